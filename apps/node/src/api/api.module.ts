import { Module } from '@nestjs/common'
import { KeysModule } from '../keys/keys.module'
import { AuditController } from './audit.controller'
import { ClusterController } from './cluster.controller'
import { KeysController } from './keys.controller'
import { PresignaturesController, TransactionsController, WalletController } from './wallet.controller'
import { WalletModule } from '../wallet/wallet.module'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { ByzantineController } from './byzantine.controller'

/** The REST controllers of `/api/v1` (HTTP only: services decide). */
@Module({
  imports: [KeysModule, WalletModule, ByzantineModule],
  controllers: [KeysController, ClusterController, AuditController, WalletController, TransactionsController, PresignaturesController, ByzantineController],
})
export class ApiModule {}
