import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common'
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger'
import type { DrillBehaviour, DrillDto, UnbanDto, ViolationListDto } from '@tw/api'
import { ByzantineService } from '../byzantine/byzantine.service'
import { DrillService } from '../byzantine/drill.service'
import { DrillDoc, DrillRequestDoc, ErrorDoc, UnbanDoc, ViolationListDoc } from './openapi'
import { drillSchema, nodeIdParamSchema } from './schemas'
import { ZodValidationPipe } from './zod-validation.pipe'
import { RequireRole } from '../auth/roles'

@ApiTags('byzantine')
@Controller('api/v1')
export class ByzantineController {
  constructor(
    private readonly byzantine: ByzantineService,
    private readonly drill: DrillService,
  ) {}

  @Get('byzantine/violations')
  @ApiOperation({ summary: 'Violations with their evidence and signed accusers; bans in force' })
  @ApiOkResponse({ type: ViolationListDoc })
  violations(): Promise<ViolationListDto> {
    return this.byzantine.list()
  }

  @Post('cluster/nodes/:id/unban')
  @RequireRole('admin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Lift a ban (operator action, audited); earlier violations stop counting',
    description: "The unban record is signed by this node and checked by every node. Ask another node than the banned one: a node's own unban would not count.",
  })
  @ApiOkResponse({ type: UnbanDoc })
  @ApiResponse({ status: 400, type: ErrorDoc })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'CONFLICT: the banned node is this node (its own unban would not count)' })
  unban(@Param('id', new ZodValidationPipe(nodeIdParamSchema)) id: number): Promise<UnbanDto> {
    return this.byzantine.unban(id, 'api')
  }

  @Get('drill')
  @ApiOperation({ summary: "This node's Byzantine drill behaviours (drill mode only; never in production)" })
  @ApiOkResponse({ type: DrillDoc })
  drillState(): DrillDto {
    return this.drill.state()
  }

  @Post('drill')
  @RequireRole('admin')
  @HttpCode(200)
  @ApiOperation({ summary: "Set this node's drill behaviours (403 unless started with TW_BYZANTINE or TW_BYZANTINE_DRILL)" })
  @ApiBody({ type: DrillRequestDoc })
  @ApiOkResponse({ type: DrillDoc })
  @ApiResponse({ status: 403, type: ErrorDoc, description: 'DRILL_DISABLED' })
  setDrill(@Body(new ZodValidationPipe(drillSchema)) body: { behaviours: DrillBehaviour[] }): Promise<DrillDto> {
    return this.drill.set(body.behaviours, 'api')
  }
}
