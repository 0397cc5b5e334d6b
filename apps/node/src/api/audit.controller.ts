import { Controller, Get } from '@nestjs/common'
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger'
import type { AuditVerifyDto } from '@tw/api'
import { AuditService } from '../audit/audit.service'
import { AuditVerifyDoc, ErrorDoc } from './openapi'

@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('verify')
  @ApiOperation({ summary: "Recompute the audit log's hash chain; names the first broken row" })
  @ApiOkResponse({ type: AuditVerifyDoc })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'database unavailable' })
  verify(): Promise<AuditVerifyDto> {
    return this.audit.verify()
  }
}
