import { Logger, Module } from '@nestjs/common'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { CHAIN, chainErrorCounter, connectChain } from '../chain/chain.client'
import { MetricsService } from '../metrics/metrics.service'
import path from 'node:path'
import { ApprovalLedger } from './approval-ledger'
import { CoinsService } from './coins.service'
import { PresignatureService } from './presignature.service'
import { RecoveryService } from './recovery.service'
import { ReplaceService } from './replace.service'
import { SendService } from './send.service'
import { TxAbandonService } from './tx-abandon.service'
import { TxCoordinatorService } from './tx-coordinator.service'
import { TxRetentionService } from './tx-retention.service'
import { TxStore } from './tx-store'
import { TxWorkerService } from './tx-worker.service'
import { WalletService } from './wallet.service'

/** The wallet: addresses and coins, the send flow (propose, vote, sign, broadcast), the presignature pool. */
@Module({
  imports: [ByzantineModule],
  providers: [
    {
      // Probed before the node starts: a TW_CHAIN_URL that answers wrongly stops the start (chain.client.ts).
      provide: CHAIN,
      inject: [APP_CONFIG, MetricsService],
      useFactory: async (c: AppConfig, m: MetricsService) =>
        c.chain.url ? await connectChain({ ...c.chain, url: c.chain.url }, chainErrorCounter(m.registry), (msg) => new Logger('Chain').warn(msg)) : null,
    },
    { provide: ApprovalLedger, inject: [APP_CONFIG], useFactory: (c: AppConfig) => new ApprovalLedger(path.join(c.keystore.dir, 'approvals')) },
    WalletService,
    CoinsService,
    TxStore,
    SendService,
    ReplaceService,
    TxAbandonService,
    TxWorkerService,
    TxCoordinatorService,
    TxRetentionService,
    PresignatureService,
    RecoveryService,
  ],
  exports: [
    WalletService,
    CoinsService,
    SendService,
    ReplaceService,
    TxAbandonService,
    TxWorkerService,
    TxCoordinatorService,
    TxRetentionService,
    PresignatureService,
    RecoveryService,
    CHAIN,
  ],
})
export class WalletModule {}
