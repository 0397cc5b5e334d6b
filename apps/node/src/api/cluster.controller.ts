import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common'
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger'
import type { ClusterRecoverRequest, ClusterRecoveryDto, ClusterStatusDto } from '@tw/api'
import { RequireRole } from '../auth/roles'
import { ClusterService } from '../cluster/cluster.service'
import { RecoveryService } from '../wallet/recovery.service'
import { ClusterRecoverRequestDoc, ClusterRecoveryDoc, ClusterStatusDoc, ErrorDoc } from './openapi'
import { clusterRecoverSchema } from './schemas'
import { ZodValidationPipe } from './zod-validation.pipe'

@ApiTags('cluster')
@Controller('api/v1/cluster')
export class ClusterController {
  constructor(
    private readonly cluster: ClusterService,
    private readonly recovery: RecoveryService,
  ) {}

  @Get('status')
  @ApiOperation({ summary: 'Nodes up/down, leader and term, etcd members, bans' })
  @ApiOkResponse({ type: ClusterStatusDoc })
  status(): Promise<ClusterStatusDto> {
    return this.cluster.status()
  }

  @Post('recover')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({
    summary: "Rebuild the cluster's state in etcd after etcd lost it: keys, address indexes, unfinished sends",
    description:
      "Keys are registered again only when every node's signed statement of its share agrees; address indexes are raised past the last address the chain shows used (gap-limit scan) and the last one the history names; unfinished sends etcd no longer holds are resolved against the chain (a signed copy is broadcast again). Idempotent; dryRun reports the same and writes nothing.",
  })
  @ApiBody({ type: ClusterRecoverRequestDoc, required: false })
  @ApiOkResponse({ type: ClusterRecoveryDoc })
  @ApiResponse({ status: 400, type: ErrorDoc })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CLUSTER_UNAVAILABLE (etcd down), CHAIN_UNAVAILABLE, DEPENDENCY_UNAVAILABLE (PostgreSQL down)' })
  recover(@Body(new ZodValidationPipe(clusterRecoverSchema)) body: ClusterRecoverRequest): Promise<ClusterRecoveryDto> {
    return this.recovery.recover(body.dryRun === true)
  }
}
