import { Module } from '@nestjs/common'
import path from 'node:path'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { DkgCoordinatorService } from './dkg-coordinator.service'
import { DkgWorkerService } from './dkg-worker.service'
import { KeyRefreshService } from './key-refresh.service'
import { KeysService } from './keys.service'
import { RefreshVoteLedger } from './refresh-votes'

/** Distributed key generation and share refresh: API-facing services, leader coordinator, per-node workers. */
@Module({
  imports: [ByzantineModule],
  providers: [
    KeysService,
    DkgCoordinatorService,
    DkgWorkerService,
    KeyRefreshService,
    { provide: RefreshVoteLedger, inject: [APP_CONFIG], useFactory: (c: AppConfig) => new RefreshVoteLedger(path.join(c.keystore.dir, 'refresh-votes')) },
  ],
  exports: [KeysService, DkgCoordinatorService, DkgWorkerService, KeyRefreshService],
})
export class KeysModule {}
