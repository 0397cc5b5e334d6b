import { Controller, Get } from '@nestjs/common'
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger'
import type { ClusterStatusDto } from '@tw/api'
import { ClusterService } from '../cluster/cluster.service'
import { ClusterStatusDoc } from './openapi'

@ApiTags('cluster')
@Controller('api/v1/cluster')
export class ClusterController {
  constructor(private readonly cluster: ClusterService) {}

  @Get('status')
  @ApiOperation({ summary: 'Nodes up/down, leader and term, etcd members, bans' })
  @ApiOkResponse({ type: ClusterStatusDoc })
  status(): Promise<ClusterStatusDto> {
    return this.cluster.status()
  }
}
