import { Module } from '@nestjs/common'
import { ByzantineService } from './byzantine.service'
import { DrillService } from './drill.service'
import { NodeIdentityService } from './identity.service'

/** Node identity for signed statements, Byzantine detection and bans, drill mode. */
@Module({
  providers: [NodeIdentityService, ByzantineService, DrillService],
  exports: [NodeIdentityService, ByzantineService, DrillService],
})
export class ByzantineModule {}
