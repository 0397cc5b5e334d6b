import { Injectable, Logger } from '@nestjs/common'
import { Counter } from 'prom-client'
import { AuditService } from '../audit/audit.service'
import { MetricsService } from '../metrics/metrics.service'

export const DENIAL_REASONS = ['missing_token', 'invalid_token', 'forbidden', 'rate_limited', 'payload_too_large'] as const
export type DenialReason = (typeof DENIAL_REASONS)[number]

/** Audit entries for denials per minute at most: a flood must not flood the audit log. */
const AUDIT_PER_MINUTE = 120

/**
 * Every refused API request: counted in `mpc_api_denied_total{reason}` and, when it tried to
 * move money or keys (non-GET under `/api/v1`), audited as `api.denied` (rate-capped).
 */
@Injectable()
export class ApiDenials {
  private readonly log = new Logger('Auth')
  readonly counter: Counter<'reason'>
  private window = { start: 0, count: 0, suppressed: 0 }

  constructor(
    metrics: MetricsService,
    private readonly audit: AuditService,
  ) {
    this.counter = new Counter({
      name: 'mpc_api_denied_total',
      help: 'API requests refused (missing or invalid token, wrong role, rate limit, oversized body)',
      labelNames: ['reason'] as const,
      registers: [metrics.registry],
    })
    for (const reason of DENIAL_REASONS) this.counter.inc({ reason }, 0)
  }

  record(reason: DenialReason, req: { method: string; route: string; ip?: string; tokenId?: string; sensitive: boolean }): void {
    this.counter.inc({ reason })
    if (!req.sensitive) return
    const now = Date.now()
    if (now - this.window.start >= 60_000) {
      if (this.window.suppressed > 0) this.log.warn(`${this.window.suppressed} denied requests were not audited (more than ${AUDIT_PER_MINUTE}/min)`)
      this.window = { start: now, count: 0, suppressed: 0 }
    }
    if (this.window.count >= AUDIT_PER_MINUTE) {
      this.window.suppressed++
      return
    }
    this.window.count++
    const actor = req.tokenId ? `token:${req.tokenId}` : 'anonymous'
    void this.audit.record('api.denied', { reason, method: req.method, route: req.route, ip: req.ip ?? null, tokenId: req.tokenId ?? null }, actor)
  }
}
