import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common'
import { ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger'
import { TokenRoles, type CreateTokenRequest, type CreatedTokenDto, type TokenDto, type TokenListDto, type TokenRole } from '@tw/api'
import { z } from 'zod'
import { ErrorDoc } from '../api/openapi'
import { ZodValidationPipe } from '../api/zod-validation.pipe'
import { RequireRole } from './roles'
import { TokenService } from './token.service'
import type { AuthenticatedRequest } from './token-throttler.guard'

const createTokenSchema = z.strictObject(
  {
    name: z.string({ error: 'name must be a string' }).regex(/^[A-Za-z0-9 ._@:-]{1,64}$/, { error: 'name must be 1-64 characters: letters, digits, space, ._-@:' }),
    role: z.enum(TokenRoles, { error: 'role must be "viewer", "operator" or "admin"' }),
  },
  { error: 'body must be a JSON object' },
)
const tokenIdSchema = z.uuid({ error: 'not a token id' })

class CreateTokenRequestDoc implements CreateTokenRequest {
  @ApiProperty({ example: 'grafana' }) name!: string
  @ApiProperty({ enum: TokenRoles }) role!: TokenRole
}
class TokenDoc implements TokenDto {
  @ApiProperty({ format: 'uuid' }) id!: string
  @ApiProperty() name!: string
  @ApiProperty({ enum: TokenRoles }) role!: TokenRole
  @ApiProperty() createdAt!: string
  @ApiPropertyOptional({ nullable: true, type: String }) revokedAt!: string | null
  @ApiPropertyOptional({ nullable: true, type: String }) lastUsedAt!: string | null
}
class CreatedTokenDoc extends TokenDoc implements CreatedTokenDto {
  @ApiProperty({ description: 'tw_<base64url>: shown here once, never again' }) token!: string
}
class TokenListDoc implements TokenListDto {
  @ApiProperty({ type: [TokenDoc] }) tokens!: TokenDoc[]
}

const actorOf = (req: AuthenticatedRequest) => `token:${req.twAuth?.tokenId ?? 'unknown'}`

/** `/api/v1/tokens`: admin only; creation and revocation are audited. */
@ApiTags('tokens')
@ApiBearerAuth()
@RequireRole('admin')
@Controller('api/v1/tokens')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an API token (admin); the token is in this answer only' })
  @ApiBody({ type: CreateTokenRequestDoc })
  @ApiCreatedResponse({ type: CreatedTokenDoc })
  @ApiResponse({ status: 400, type: ErrorDoc })
  create(@Body(new ZodValidationPipe(createTokenSchema)) body: CreateTokenRequest, @Req() req: AuthenticatedRequest): Promise<CreatedTokenDto> {
    return this.tokens.create(body.name, body.role, actorOf(req))
  }

  @Get()
  @ApiOperation({ summary: 'Every token with its role and dates (never the token or its hash)' })
  @ApiOkResponse({ type: TokenListDoc })
  async list(): Promise<TokenListDto> {
    return { tokens: await this.tokens.list() }
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a token: refused at once by every node' })
  @ApiOkResponse({ type: TokenDoc })
  @ApiResponse({ status: 404, type: ErrorDoc })
  revoke(@Param('id', new ZodValidationPipe(tokenIdSchema)) id: string, @Req() req: AuthenticatedRequest): Promise<TokenDto> {
    return this.tokens.revoke(id, actorOf(req))
  }
}
