import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common'
import { ApiAcceptedResponse, ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger'
import type { CreateKeyRequest, KeyDto, KeyListDto, KeyRefreshDto } from '@tw/api'
import { KeyRefreshService } from '../keys/key-refresh.service'
import { KeysService } from '../keys/keys.service'
import { CreateKeyRequestDoc, ErrorDoc, KeyDoc, KeyListDoc, KeyRefreshDoc } from './openapi'
import { createKeySchema, keyIdSchema } from './schemas'
import { ZodValidationPipe } from './zod-validation.pipe'
import { RequireRole } from '../auth/roles'

interface StatusSettable {
  status(code: number): unknown
}

@ApiTags('keys')
@Controller('api/v1/keys')
export class KeysController {
  constructor(
    private readonly keys: KeysService,
    private readonly refresh: KeyRefreshService,
  ) {}

  @Post()
  @HttpCode(201)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Generate a threshold key (DKG across all nodes); works on any node' })
  @ApiBody({ type: CreateKeyRequestDoc })
  @ApiCreatedResponse({ type: KeyDoc, description: 'all nodes agree on the public key; the key is active' })
  @ApiAcceptedResponse({ type: KeyDoc, description: 'still running (status pending); poll GET /api/v1/keys/{id}' })
  @ApiResponse({ status: 400, type: ErrorDoc })
  @ApiResponse({ status: 502, type: ErrorDoc, description: 'DKG_FAILED' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CLUSTER_UNAVAILABLE' })
  async create(@Body(new ZodValidationPipe(createKeySchema)) body: CreateKeyRequest, @Res({ passthrough: true }) res: StatusSettable): Promise<KeyDto> {
    const outcome = await this.keys.create(body.protocol)
    if (!outcome.done) res.status(202)
    return outcome.key
  }

  @Get()
  @ApiOperation({ summary: 'List keys with their status' })
  @ApiOkResponse({ type: KeyListDoc })
  list(): Promise<KeyListDto> {
    return this.keys.list()
  }

  @Get(':id')
  @ApiOperation({ summary: 'One key' })
  @ApiOkResponse({ type: KeyDoc })
  @ApiResponse({ status: 404, type: ErrorDoc })
  get(@Param('id', new ZodValidationPipe(keyIdSchema)) id: string): Promise<KeyDto> {
    return this.keys.get(id)
  }

  @Post(':id/refresh')
  @HttpCode(202)
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Refresh the key shares: every node gets a new share of the same key (same public key and addresses); old shares and backups no longer sign',
    description:
      'All nodes must be up. Every node votes on the job (refused: filed by a banned node, or sooner than TW_REFRESH_MIN_INTERVAL_S after the last refresh of the key); once all approved, signing and presignatures with this key pause until every node has its new share; the key keeps its shares if any node rejects or fails. Poll GET /api/v1/keys/{id}/refresh.',
  })
  @ApiAcceptedResponse({ type: KeyRefreshDoc, description: 'filed; state voting' })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND: no such key' })
  @ApiResponse({
    status: 409,
    type: ErrorDoc,
    description: 'CONFLICT: the key is not active, a refresh of it runs, or this node would reject it (details.reason: REQUESTER_BANNED, KEY_NOT_HELD, TOO_SOON)',
  })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CLUSTER_UNAVAILABLE: not every node is up' })
  requestRefresh(@Param('id', new ZodValidationPipe(keyIdSchema)) id: string): Promise<KeyRefreshDto> {
    return this.refresh.request(id)
  }

  @Get(':id/refresh')
  @ApiOperation({ summary: "The key's latest share refresh and where it stands" })
  @ApiOkResponse({ type: KeyRefreshDoc })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND: no such key, or never refreshed' })
  refreshStatus(@Param('id', new ZodValidationPipe(keyIdSchema)) id: string): Promise<KeyRefreshDto> {
    return this.refresh.status(id)
  }
}
