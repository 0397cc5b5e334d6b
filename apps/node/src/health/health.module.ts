import { Module } from '@nestjs/common'
import { TerminusModule } from '@nestjs/terminus'
import { HealthController } from './health.controller'
import { DatabaseHealthIndicator, EtcdHealthIndicator, KeystoreHealthIndicator, PeersHealthIndicator, PrimePoolHealthIndicator } from './health.indicators'

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [EtcdHealthIndicator, DatabaseHealthIndicator, PeersHealthIndicator, KeystoreHealthIndicator, PrimePoolHealthIndicator],
})
export class HealthModule {}
