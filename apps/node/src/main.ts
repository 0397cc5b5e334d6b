import { CertificateRefusedError, CertReloadService } from './certs/cert-reload.service'
import { ByzantineService } from './byzantine/byzantine.service'
import { DrillService } from './byzantine/drill.service'
import { PresignatureService } from './wallet/presignature.service'
import { RecoveryService } from './wallet/recovery.service'
import { TxCoordinatorService } from './wallet/tx-coordinator.service'
import { TxRetentionService } from './wallet/tx-retention.service'
import { TxWorkerService } from './wallet/tx-worker.service'
import 'reflect-metadata'
import { Logger, type LogLevel as NestLogLevel } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { configureApp } from './api/configure-app'
import { AppModule } from './app.module'
import { AuditService } from './audit/audit.service'
import { ApiDenials } from './auth/api-denials'
import { TokenService } from './auth/token.service'
import { errorMessage } from './common/async'
import { NodeLogger } from './common/node-logger'
import { ClusterService } from './cluster/cluster.service'
import { ConfigError, loadConfig, redactConfig, type AppConfig, type LogLevel } from './config/config'
import { EngineRepository } from './engine/engine.repository'
import { EventLogService } from './events/event-log.service'
import { WebhooksService } from './events/webhooks.service'
import { PrimePoolService } from './engine/prime-pool.service'
import { DkgCoordinatorService } from './keys/dkg-coordinator.service'
import { KeyRefreshService } from './keys/key-refresh.service'
import { DkgWorkerService } from './keys/dkg-worker.service'
import { DatabaseRepository } from './persistence/database.repository'

const SHUTDOWN_DEADLINE_MS = 8000

function nestLevels(level: LogLevel): NestLogLevel[] {
  const order: NestLogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose']
  return order.slice(0, order.indexOf(level) + 1)
}

/**
 * Start-up order: config → own certificate → engine (QUIC, keystore; safe primes in the
 * background) → database (migrations) → etcd (register, campaign) → key workers → HTTP.
 * Shutdown runs it backwards.
 */
async function main(): Promise<void> {
  let config: AppConfig
  try {
    config = loadConfig(process.env) // the only read of process.env
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`threshold-wallet node: invalid configuration:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`)
      process.exit(1)
    }
    throw err
  }
  const log = new Logger('Main')
  const app = await NestFactory.create(AppModule.forRoot(config), {
    logger: new NodeLogger(config.nodeId, { levels: nestLevels(config.logLevel), json: config.logFormat === 'json' }),
    forceCloseConnections: true,
  })
  configureApp(app, { nodeId: config.nodeId, maxBodyBytes: config.auth.maxBodyBytes, denials: app.get(ApiDenials) })
  log.log(`node ${config.nodeId} of ${config.clusterSize} (threshold ${config.threshold}), env ${config.env}`)
  if (config.insecureTestPrimes) log.warn('*** INSECURE TEST PRIMES ENABLED: never use this node for real funds ***')

  const engine = app.get(EngineRepository)
  const db = app.get(DatabaseRepository)
  const audit = app.get(AuditService)
  const cluster = app.get(ClusterService)
  const coordinator = app.get(DkgCoordinatorService)
  const worker = app.get(DkgWorkerService)
  const keyRefresh = app.get(KeyRefreshService)
  const primes = app.get(PrimePoolService)
  const txWorker = app.get(TxWorkerService)
  const txCoordinator = app.get(TxCoordinatorService)
  const txRetention = app.get(TxRetentionService)
  const presignatures = app.get(PresignatureService)
  const recovery = app.get(RecoveryService)
  const byzantine = app.get(ByzantineService)
  const drill = app.get(DrillService)
  const certReload = app.get(CertReloadService)
  const tokens = app.get(TokenService)
  const eventLog = app.get(EventLogService)
  const webhooks = app.get(WebhooksService)

  certReload.checkAtStart() // a certificate the peers would refuse stops the start here, with why
  await engine.start()
  primes.start() // background: safe primes take minutes; readiness goes to /tw/primes/<id>
  await db.start()
  void audit.record('config.loaded', { config: redactConfig(config) })
  await cluster.start()
  await tokens.start() // bootstrap admin token row, etcd revocation watch
  await coordinator.start()
  await worker.start()
  await keyRefresh.start()
  drill.start()
  certReload.start()
  await byzantine.start()
  await txWorker.start()
  await txCoordinator.start()
  presignatures.start()
  recovery.start() // every minute: this node's signed statement of each share it holds is in etcd (cluster recover reads them)
  txRetention.start() // every minute: finished transactions past TW_TX_RETENTION_S leave etcd
  await eventLog.start() // the event log in memory; the leader writes it
  await webhooks.start() // the leader delivers events to webhooks
  await app.listen(config.api.port, config.api.host)
  log.log(`API listening on http://${config.api.host}:${config.api.port} (advertised ${config.api.advertisedUrl})`)

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.log(`${signal}: shutting down`)
    const hard = setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, SHUTDOWN_DEADLINE_MS)
    hard.unref()
    const steps: [string, () => Promise<unknown> | unknown][] = [
      ['webhooks', () => webhooks.stop()],
      ['event log', () => eventLog.stop()],
      ['presignatures', () => presignatures.stop()],
      ['tx retention', () => txRetention.stop()],
      ['share statements', () => recovery.stop()],
      ['byzantine', () => byzantine.stop()],
      ['certificates', () => certReload.stop()],
      ['tx coordinator', () => txCoordinator.stop()],
      ['tx worker', () => txWorker.stop()],
      ['key refresh', () => keyRefresh.stop()],
      ['worker', () => worker.stop()],
      ['coordinator', () => coordinator.stop()],
      ['primes', () => primes.stop()],
      ['tokens', () => tokens.stop()],
      ['cluster', () => cluster.stop()],
      ['audit', () => audit.drain(1000)],
      ['engine', () => engine.shutdown()],
      ['http', () => app.close()],
      ['database', () => db.stop()],
    ]
    for (const [name, step] of steps) {
      try {
        await step()
      } catch (err) {
        log.warn(`shutdown ${name}: ${errorMessage(err)}`)
      }
    }
    clearTimeout(hard)
    log.log('stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

main().catch((err: unknown) => {
  // A refusal with a stable code is the operator's to fix: its message, not a stack trace.
  const coded = err instanceof CertificateRefusedError
  process.stderr.write(
    `threshold-wallet node: start-up failed${coded ? ` (${err.code})` : ''}: ${err instanceof Error ? (coded ? err.message : (err.stack ?? err.message)) : String(err)}\n`,
  )
  process.exit(1)
})
