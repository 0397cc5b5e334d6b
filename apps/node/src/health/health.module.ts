import { Module } from '@nestjs/common'
import { TerminusModule } from '@nestjs/terminus'
import { HealthController } from './health.controller'
import { WalletModule } from '../wallet/wallet.module'
import { ChainHealthIndicator, DatabaseHealthIndicator, EtcdHealthIndicator, KeystoreHealthIndicator, PeersHealthIndicator, PrimePoolHealthIndicator } from './health.indicators'

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), WalletModule],
  controllers: [HealthController],
  providers: [ChainHealthIndicator, EtcdHealthIndicator, DatabaseHealthIndicator, PeersHealthIndicator, KeystoreHealthIndicator, PrimePoolHealthIndicator],
})
export class HealthModule {}
