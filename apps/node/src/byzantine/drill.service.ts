import { Inject, Injectable, Logger } from '@nestjs/common'
import type { DrillBehaviour, DrillDto } from '@tw/api'
import { AuditService } from '../audit/audit.service'
import { DomainError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'

/** The drill endpoint on a node not started in drill mode. */
export class DrillDisabledError extends DomainError {
  readonly code = 'DRILL_DISABLED'
  readonly httpStatus = 403
}

/**
 * Byzantine drill mode: this node misbehaves on purpose so operators can rehearse and tests
 * can prove the defences. Off unless the node was started with `TW_BYZANTINE=<behaviours>` or
 * `TW_BYZANTINE_DRILL=true`, both refused by the configuration when `TW_ENV=production`.
 *
 * - corrupt-share: corrupted ECDSA partial signatures and FROST shares (engine);
 * - replay / wrong-session: every protocol frame sent again, or under a wrong protocol tag (engine);
 * - equivocate-vote: votes, then overwrites its vote with the opposite one;
 * - approve-everything: approves every proposal without checking it;
 * - drop: never votes and never joins a signing session;
 * - delay: votes and joins signing sessions late;
 * - etcd-tamper: uses its etcd access against the others: every transaction it sees confirmed
 *   is rewritten in etcd to pay its whole input value out, with a new signing attempt signed by
 *   this node (the honest signers must refuse it), then put back after a while.
 */
@Injectable()
export class DrillService {
  private readonly log = new Logger('Drill')
  private behaviours = new Set<DrillBehaviour>()

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly engine: EngineRepository,
    private readonly audit: AuditService,
  ) {}

  get enabled(): boolean {
    return this.config.drill.enabled && this.config.env !== 'production'
  }

  /** Applies the configured behaviours (after the engine started). */
  start(): void {
    if (!this.enabled) return
    this.apply(this.config.drill.behaviours)
    this.log.warn(`*** BYZANTINE DRILL MODE: this node misbehaves on purpose (${[...this.behaviours].join(', ') || 'nothing yet'}) ***`)
  }

  has(b: DrillBehaviour): boolean {
    return this.behaviours.has(b)
  }

  state(): DrillDto {
    return { nodeId: this.config.nodeId, enabled: this.enabled, behaviours: [...this.behaviours] }
  }

  async set(behaviours: DrillBehaviour[], actor: string): Promise<DrillDto> {
    if (!this.enabled) throw new DrillDisabledError('this node is not in drill mode (TW_BYZANTINE / TW_BYZANTINE_DRILL)')
    this.apply(behaviours)
    this.log.warn(`*** BYZANTINE DRILL: behaviours now ${[...this.behaviours].join(', ') || 'none'} ***`)
    await this.audit.record('drill.changed', { behaviours: [...this.behaviours] }, actor)
    return this.state()
  }

  private apply(behaviours: DrillBehaviour[]): void {
    this.behaviours = new Set(behaviours)
    this.engine.setFaults({ corruptShare: this.has('corrupt-share'), replay: this.has('replay'), wrongSession: this.has('wrong-session') })
  }
}
