import { Module } from '@nestjs/common'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { DkgCoordinatorService } from './dkg-coordinator.service'
import { DkgWorkerService } from './dkg-worker.service'
import { KeyRefreshService } from './key-refresh.service'
import { KeysService } from './keys.service'

/** Distributed key generation and share refresh: API-facing services, leader coordinator, per-node workers. */
@Module({
  imports: [ByzantineModule],
  providers: [KeysService, DkgCoordinatorService, DkgWorkerService, KeyRefreshService],
  exports: [KeysService, DkgCoordinatorService, DkgWorkerService, KeyRefreshService],
})
export class KeysModule {}
