import { Inject, Injectable, Logger } from '@nestjs/common'
import {
  generateWebhookSecret,
  signWebhook,
  WEBHOOK_SIGNATURE_HEADER,
  type CreatedWebhookDto,
  type CreateWebhookRequest,
  type WalletEventDto,
  type WebhookDeliveryDto,
  type WebhookDto,
} from '@tw/api'
import { randomUUID } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { errorMessage } from '../common/async'
import { DomainError, NotFoundError, ValidationFailedError } from '../common/errors'
import { Reconciler } from '../common/reconciler'
import type { AppConfig } from '../config/config'
import { APP_CONFIG } from '../config/config.module'
import { MetricsService } from '../metrics/metrics.service'
import { WebhookDeliveryEntity } from '../persistence/entities'
import { DatabaseRepository } from '../persistence/database.repository'
import { EventLogService } from './event-log.service'
import { EventKeys, retryDelayMs, type WebhookRecord, type WebhookState } from './events.types'
import { postWebhook, privateUrlReason } from './webhook-post'

/** Webhooks a cluster keeps at most. */
export const MAX_WEBHOOKS = 20
/** Events delivered to one webhook per step at most (the next step goes on). */
const MAX_PER_STEP = 50

export class WebhookLimitError extends DomainError {
  readonly code = 'CONFLICT'
  readonly httpStatus = 409
}

type Outcome = WebhookDeliveryDto['outcome']

/**
 * Webhooks: subscriptions in etcd (`/tw/webhooks/<id>`, made through any node's API), and
 * their deliveries by the leader of the moment.
 *
 * Each webhook gets the events of the log it subscribed to, created after it, one at a time
 * in seq order: an HTTP POST of the event as JSON, signed with the webhook's secret
 * (`TW-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, @tw/api `verifyWebhook`),
 * with `TW-Event-Id`, `TW-Event-Type` and `TW-Delivery-Attempt`. A 2xx answer delivers it; anything
 * else (or no answer within TW_WEBHOOK_TIMEOUT_MS; redirects are not followed) is retried
 * after TW_WEBHOOK_RETRY_BASE_MS, doubling each time (at most an hour), up to
 * TW_WEBHOOK_MAX_ATTEMPTS, then given up and the next event goes. Later events wait for the
 * one being retried (the order is kept). The progress (`/tw/webhook-state/<id>`) is written
 * after each attempt, fenced on the leader's term, so a new leader goes on where the last one
 * stopped: an event may be delivered twice (receivers drop a repeated `TW-Event-Id`), never
 * skipped. Every attempt is a row of the delivery log (PostgreSQL `webhook_deliveries`).
 */
@Injectable()
export class WebhooksService {
  private readonly log = new Logger('Webhooks')
  private readonly reconciler = new Reconciler(
    'Webhooks',
    1000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'Webhooks' }),
  )
  private unsubscribe: (() => void) | null = null
  /** Webhooks whose deliveries are under way (a step still running them is not doubled). */
  private readonly inFlight = new Set<string>()

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly events: EventLogService,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = this.events.subscribe(() => this.reconciler.kick())
    await this.etcd.watchPrefix(EventKeys.webhooks, () => this.reconciler.kick()).catch(() => undefined)
    this.reconciler.start()
  }

  stop(): Promise<void> {
    this.unsubscribe?.()
    return this.reconciler.stop()
  }

  async create(req: CreateWebhookRequest, actor: string): Promise<CreatedWebhookDto> {
    const existing = await this.etcd.getPrefix<WebhookRecord>(EventKeys.webhooks)
    if (existing.length >= MAX_WEBHOOKS) throw new WebhookLimitError(`a cluster keeps at most ${MAX_WEBHOOKS} webhooks; remove one first`)
    const refused = this.config.events.webhookAllowPrivate ? null : privateUrlReason(req.url)
    if (refused) {
      throw new ValidationFailedError(`url: ${refused}; webhooks go only to public addresses unless the nodes run with TW_WEBHOOK_ALLOW_PRIVATE=true`, { field: 'url' })
    }
    const record: WebhookRecord = {
      id: randomUUID(),
      url: req.url,
      events: req.events?.length ? req.events : ['*'],
      description: req.description ?? null,
      secret: generateWebhookSecret(),
      createdAt: new Date().toISOString(),
      createdBy: actor,
    }
    await this.etcd.put(EventKeys.webhook(record.id), record)
    await this.audit.record('webhook.created', { webhookId: record.id, url: redactUrl(record.url), events: record.events }, actor)
    return { ...toDto(record, null), secret: record.secret }
  }

  async list(): Promise<WebhookDto[]> {
    const { hooks, state } = await this.readAll()
    return hooks.map((h) => toDto(h.value, state.get(h.value.id) ?? null)).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async get(id: string): Promise<WebhookDto> {
    const hook = await this.record(id)
    return toDto(hook.value, (await this.etcd.get<WebhookState>(EventKeys.webhookState(id)))?.value ?? null)
  }

  /** Removes webhook `id`: nothing more is sent to it (an attempt under way may still finish). */
  async remove(id: string, actor: string): Promise<WebhookDto> {
    const dto = await this.get(id)
    await this.etcd.delete(EventKeys.webhook(id))
    await this.etcd.delete(EventKeys.webhookState(id))
    await this.audit.record('webhook.deleted', { webhookId: id, url: redactUrl(dto.url) }, actor)
    return dto
  }

  /** The delivery log of webhook `id`, newest first (this node's database: every node's attempts when they share one). */
  async deliveries(id: string, limit: number): Promise<WebhookDeliveryDto[]> {
    await this.record(id)
    const rows = await this.db.read((em) => em.getRepository(WebhookDeliveryEntity).find({ where: { webhookId: id }, order: { createdAt: 'DESC' }, take: limit }))
    return rows.map(deliveryDto)
  }

  /** Sends a `webhook.ping` to webhook `id` now, from this node (not retried), and says what came back. */
  async test(id: string): Promise<WebhookDeliveryDto> {
    const hook = (await this.record(id)).value
    const event: WalletEventDto = {
      id: `ping.${randomUUID()}`,
      seq: 0,
      type: 'webhook.ping',
      at: new Date().toISOString(),
      data: { webhookId: id, message: 'a test delivery from threshold-wallet' },
    }
    return this.attempt(hook, event, 1, true)
  }

  /** Every webhook and every delivery progress (by webhook id), in one pair of reads. */
  private async readAll(): Promise<{ hooks: EtcdEntry<WebhookRecord>[]; state: Map<string, WebhookState> }> {
    const [hooks, states] = await Promise.all([this.etcd.getPrefix<WebhookRecord>(EventKeys.webhooks), this.etcd.getPrefix<WebhookState>(EventKeys.webhookStates)])
    return { hooks, state: new Map(states.map((s) => [s.key.slice(EventKeys.webhookStates.length), s.value])) }
  }

  private async record(id: string): Promise<EtcdEntry<WebhookRecord>> {
    const hook = await this.etcd.get<WebhookRecord>(EventKeys.webhook(id))
    if (!hook) throw new NotFoundError(`no webhook ${id}`)
    return hook
  }

  private async step(): Promise<void> {
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    // Not before this node has read the whole event log: a webhook's next event is looked up there.
    if (!term || !this.events.ready) return
    const { hooks, state } = await this.readAll()
    // Webhooks are independent: a slow or failing one holds up only itself, and one still
    // delivering from an earlier step is left to it (never two loops on one webhook).
    const results = await Promise.allSettled(
      hooks
        .filter((h) => !this.inFlight.has(h.value.id))
        .map(async (h) => {
          this.inFlight.add(h.value.id)
          try {
            await this.deliver(term, h, state.get(h.value.id) ?? { lastSeq: null, retrying: null })
          } finally {
            this.inFlight.delete(h.value.id)
          }
        }),
    )
    // Progress of a webhook removed meanwhile goes too.
    const ids = new Set(hooks.map((h) => h.value.id))
    for (const id of state.keys()) if (!ids.has(id) && !this.inFlight.has(id)) await this.etcd.fencedDelete(term, EventKeys.webhookState(id))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
  }

  /**
   * Delivers webhook `hook`'s next events in order, from `state`; stops at one that waits for a
   * retry. Each step's progress is written only while the webhook is unchanged (a webhook
   * removed meanwhile gets nothing more).
   */
  private async deliver(term: string, hook: EtcdEntry<WebhookRecord>, state: WebhookState): Promise<void> {
    // Only the events written after the webhook was.
    const floor = () => Math.max(state.lastSeq ?? 0, Number(hook.createRevision))
    for (let i = 0; i < MAX_PER_STEP; i++) {
      const next = this.events.since(floor(), hook.value.events, 1)[0]
      if (!next) return
      const retrying = state.retrying?.eventId === next.id ? state.retrying : null
      if (retrying && Date.parse(retrying.nextAttemptAt) > Date.now()) return
      if (!this.cluster.isLeader) return
      const attempt = (retrying?.attempts ?? 0) + 1
      const result = (await this.events.checkOrFalse(next)) ? await this.attempt(hook.value, next, attempt, false) : await this.unconfirmed(hook.value, next, attempt)
      const after: WebhookState =
        result.outcome === 'failed'
          ? {
              lastSeq: state.lastSeq,
              retrying: {
                eventId: next.id,
                seq: next.seq,
                attempts: attempt,
                nextAttemptAt: new Date(Date.now() + retryDelayMs(attempt, this.config.events.webhookRetryBaseMs)).toISOString(),
              },
            }
          : { lastSeq: next.seq, retrying: null }
      const written = await this.etcd.fencedTxn(term, { unchanged: [[hook.key, hook.modRevision]], puts: [[EventKeys.webhookState(hook.value.id), after]] })
      if (!written) return
      state = after
      if (result.outcome === 'failed') return
    }
    this.reconciler.kick()
  }

  /** One POST of `event` to `hook`; the outcome is logged (delivery log, metric) and returned. */
  private async attempt(hook: WebhookRecord, event: WalletEventDto, attempt: number, test: boolean): Promise<WebhookDeliveryDto> {
    const body = JSON.stringify(event)
    const started = Date.now()
    let httpStatus: number | null = null
    let error: string | null = null
    try {
      // Never to a private address unless allowed (the record is in etcd: checked on every attempt).
      httpStatus = await postWebhook(
        hook.url,
        {
          'content-type': 'application/json',
          'user-agent': 'threshold-wallet-webhooks/1',
          'tw-event-id': event.id,
          'tw-event-type': event.type,
          'tw-delivery-attempt': String(attempt),
          [WEBHOOK_SIGNATURE_HEADER]: signWebhook(hook.secret, body),
        },
        body,
        { timeoutMs: this.config.events.webhookTimeoutMs, allowPrivate: this.config.events.webhookAllowPrivate },
      )
      if (httpStatus < 200 || httpStatus > 299) error = `HTTP ${httpStatus}`
    } catch (err) {
      error = fetchError(err, this.config.events.webhookTimeoutMs)
    }
    const outcome: Outcome = error === null ? 'delivered' : test || attempt >= this.config.events.webhookMaxAttempts ? 'gave_up' : 'failed'
    if (outcome !== 'delivered') this.log.warn(`webhook ${hook.id}: event ${event.id} attempt ${attempt} ${outcome === 'failed' ? 'failed, retried later' : 'failed'}: ${error}`)
    return this.logged(hook, event, attempt, outcome, httpStatus, error, Date.now() - started)
  }

  /**
   * An event that does not check out on this node (not signed by a node, or a deposit it could not
   * find on the chain for its own address): retried like a failed delivery (the chain backend may
   * be a block behind), `refused` once the attempts are used up; never sent.
   */
  private unconfirmed(hook: WebhookRecord, event: WalletEventDto, attempt: number): Promise<WebhookDeliveryDto> {
    const last = attempt >= this.config.events.webhookMaxAttempts
    const why = event.type.startsWith('deposit.') ? "not signed by a node, or the deposit is not on the chain for this node's own address" : 'not signed by a node'
    const error = last ? `the event does not check out (${why}): refused, never sent` : `the event does not check out (${why}) (yet): checked again later`
    return this.logged(hook, event, attempt, last ? 'refused' : 'failed', null, error, 0)
  }

  private async logged(
    hook: WebhookRecord,
    event: WalletEventDto,
    attempt: number,
    outcome: Outcome,
    httpStatus: number | null,
    error: string | null,
    durationMs: number,
  ): Promise<WebhookDeliveryDto> {
    this.metrics.webhookDeliveries.inc({ outcome })
    const row = {
      webhookId: hook.id,
      eventId: event.id,
      eventType: event.type,
      seq: event.seq > 0 ? String(event.seq) : null,
      attempt,
      outcome,
      httpStatus,
      error,
      durationMs,
      nodeId: this.config.nodeId,
      createdAt: new Date(),
    }
    try {
      await this.db.transaction((em) => em.getRepository(WebhookDeliveryEntity).insert(row))
    } catch (err) {
      // The delivery state in etcd is what counts; the log row is lost with the database down.
      this.log.warn(`webhook ${hook.id}: delivery log row of ${event.id} not written: ${errorMessage(err)}`)
    }
    return deliveryDto(row)
  }
}

function toDto(r: WebhookRecord, state: WebhookState | null): WebhookDto {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    description: r.description,
    createdAt: r.createdAt,
    delivery: {
      lastSeq: state?.lastSeq ?? null,
      retrying: state?.retrying ? { eventId: state.retrying.eventId, attempts: state.retrying.attempts, nextAttemptAt: state.retrying.nextAttemptAt } : null,
    },
  }
}

function deliveryDto(r: Omit<WebhookDeliveryEntity, 'id'>): WebhookDeliveryDto {
  return {
    webhookId: r.webhookId,
    eventId: r.eventId,
    eventType: r.eventType,
    seq: r.seq === null ? null : Number(r.seq),
    attempt: r.attempt,
    outcome: r.outcome,
    httpStatus: r.httpStatus,
    error: r.error,
    durationMs: r.durationMs,
    nodeId: r.nodeId,
    at: r.createdAt.toISOString(),
  }
}

/** A URL without its user info (a password in a webhook URL never reaches the audit log). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.toString()
  } catch {
    return '(invalid url)'
  }
}

/** Why a delivery failed, in words: never a URL (it may carry a token in its query). */
function fetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code // ECONNREFUSED, ENOTFOUND, …
  return errorMessage(err).replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>')
}
