import { Module } from '@nestjs/common'
import { TerminusModule } from '@nestjs/terminus'
import { HealthController } from './health.controller'
import { DatabaseHealthIndicator, EtcdHealthIndicator, KeystoreHealthIndicator, PeersHealthIndicator } from './health.indicators'

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [EtcdHealthIndicator, DatabaseHealthIndicator, PeersHealthIndicator, KeystoreHealthIndicator],
})
export class HealthModule {}
