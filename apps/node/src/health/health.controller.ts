import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common'
import { HealthCheck, HealthCheckService, type HealthCheckResult, type HealthIndicatorResult } from '@nestjs/terminus'
import { ApiTags } from '@nestjs/swagger'
import { ChainHealthIndicator, DatabaseHealthIndicator, EtcdHealthIndicator, KeystoreHealthIndicator, PeersHealthIndicator, PrimePoolHealthIndicator } from './health.indicators'

interface StatusSettable {
  status(code: number): unknown
}

/**
 * `GET /health` and `/health/ready`: every dependency (503 with the terminus body when one is
 * down; 200 with status `degraded` when PostgreSQL is unreachable, since sends go on and audit
 * entries wait in the spool); `GET /health/live`: the process answers, no dependency consulted.
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly etcd: EtcdHealthIndicator,
    private readonly database: DatabaseHealthIndicator,
    private readonly peers: PeersHealthIndicator,
    private readonly keystore: KeystoreHealthIndicator,
    private readonly primePool: PrimePoolHealthIndicator,
    private readonly chain: ChainHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(@Res({ passthrough: true }) res: StatusSettable): Promise<HealthCheckResult | object> {
    return this.all(res, [() => this.chain.check()])
  }

  @Get('ready')
  @HealthCheck()
  ready(@Res({ passthrough: true }) res: StatusSettable): Promise<HealthCheckResult | object> {
    return this.all(res)
  }

  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([])
  }

  /** Readiness leaves the chain out: a node without a chain API still signs and votes. */
  private async all(res: StatusSettable, extra: (() => Promise<HealthIndicatorResult>)[] = []): Promise<HealthCheckResult | object> {
    try {
      return await this.health.check([
        () => this.etcd.check(),
        () => this.database.check(),
        () => this.peers.check(),
        () => this.keystore.check(),
        () => this.primePool.check(),
        ...extra,
      ])
    } catch (err) {
      // terminus answers 503 with its own body; keep that body (HealthDto), not the error shape.
      if (err instanceof ServiceUnavailableException) {
        res.status(503)
        return err.getResponse() as object
      }
      throw err
    }
  }
}
