import { Module } from '@nestjs/common'
import { DkgCoordinatorService } from './dkg-coordinator.service'
import { DkgWorkerService } from './dkg-worker.service'
import { KeysService } from './keys.service'

/** Distributed key generation: API-facing service, leader coordinator, per-node worker. */
@Module({
  providers: [KeysService, DkgCoordinatorService, DkgWorkerService],
  exports: [KeysService, DkgCoordinatorService, DkgWorkerService],
})
export class KeysModule {}
