import { Inject, Injectable } from '@nestjs/common'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'

/**
 * The node's Prometheus registry (one per process, not the global one) with the DESIGN §6
 * metric names. Services record through the typed fields; `GET /metrics` renders it.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry()

  readonly activeNodes = new Gauge({ name: 'mpc_active_nodes', help: 'Nodes whose etcd session is alive', registers: [this.registry] })
  readonly transactions = new Counter({
    name: 'mpc_transactions_total',
    help: 'Transactions by state reached',
    labelNames: ['state'] as const,
    registers: [this.registry],
  })
  readonly byzantineViolations = new Counter({
    name: 'mpc_byzantine_violations_total',
    help: 'Proven Byzantine violations by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  })
  readonly signatureDuration = new Histogram({
    name: 'mpc_signature_duration_seconds',
    help: 'Threshold signing latency',
    labelNames: ['protocol', 'mode'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly presignaturePool = new Gauge({
    name: 'mpc_presignature_pool_size',
    help: 'Presignatures ready per signer set',
    labelNames: ['signer_set'] as const,
    registers: [this.registry],
  })
  readonly primePoolSize = new Gauge({
    name: 'mpc_prime_pool_size',
    help: 'Safe-prime sets sealed on this node, ready for aux info generation',
    registers: [this.registry],
  })
  readonly consensusThreshold = new Gauge({ name: 'mpc_consensus_threshold', help: 'Signers (and approvals) needed', registers: [this.registry] })
  readonly dkgDuration = new Histogram({
    name: 'mpc_dkg_duration_seconds',
    help: 'Distributed key generation latency on this node (including the wait for aux info)',
    labelNames: ['protocol'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  })
  readonly voteDuration = new Histogram({
    name: 'mpc_vote_duration_seconds',
    help: 'Time from proposal to a decided vote',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly signingRefused = new Counter({
    name: 'mpc_signing_refused_total',
    help: 'Signing attempts this node refused (proposal changed in etcd, not approved, finished, no quorum, restarted)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  })
  readonly keyRecordMismatch = new Gauge({
    name: 'mpc_key_record_mismatch',
    help: "Whether the key record in etcd differs from this node's key share (1: refused; the record was rewritten)",
    labelNames: ['key_id'] as const,
    registers: [this.registry],
  })
  readonly stepErrors = new Counter({
    name: 'mpc_step_errors_total',
    help: 'Failed steps of a node loop (transaction worker, coordinator, Byzantine, DKG, presignatures); each is retried',
    labelNames: ['loop'] as const,
    registers: [this.registry],
  })
  readonly retentionPruned = new Counter({
    name: 'mpc_retention_pruned_total',
    help: 'Records the retention removed from etcd (kind: transactions, idempotency, presignatures, partition keys)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly retentionSkipped = new Counter({
    name: 'mpc_retention_skipped_total',
    help: 'Records the retention left for a later run after an error on them (an etcd or PostgreSQL timeout)',
    registers: [this.registry],
  })
  readonly oldestBroadcastAge = new Gauge({
    name: 'mpc_transaction_oldest_broadcast_age_seconds',
    help: 'Seconds since the oldest send still in broadcast (unconfirmed) was broadcast; set by the leader, 0 elsewhere and when none',
    registers: [this.registry],
  })
  readonly keyRefreshPaused = new Gauge({
    name: 'mpc_key_refresh_paused_seconds',
    help: 'Seconds the longest-paused key has had signing paused on this node for a share refresh; 0 when none',
    registers: [this.registry],
  })
  readonly keyRefreshes = new Counter({
    name: 'mpc_key_refreshes_total',
    help: 'Share refreshes as this node saw them end (outcome: switched = its new share is live, failed = it kept its share, rejected = a node voted against it, nothing ran)',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [this.registry],
  })
  readonly eventsWritten = new Counter({
    name: 'mpc_events_written_total',
    help: 'Events the leader added to the event log (kind: transaction, deposit)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly webhookDeliveries = new Counter({
    name: 'mpc_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, failed: retried later, gave_up, refused: the event did not check out)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })
  readonly dkgJobs = new Counter({
    name: 'mpc_dkg_jobs_total',
    help: 'DKG runs on this node by protocol and outcome',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [this.registry],
  })

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'nodeId' | 'threshold'>) {
    this.registry.setDefaultLabels({ node_id: String(config.nodeId) })
    collectDefaultMetrics({ register: this.registry })
    this.consensusThreshold.set(config.threshold)
    this.activeNodes.set(0)
    this.primePoolSize.set(0)
    for (const protocol of ['ecdsa', 'schnorr']) this.dkgDuration.zero({ protocol })
  }

  render(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
