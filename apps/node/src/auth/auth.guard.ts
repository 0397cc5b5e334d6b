import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common'
import { PATH_METADATA } from '@nestjs/common/constants'
import { Reflector } from '@nestjs/core'
import type { TokenRole } from '@tw/api'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { ApiDenials, type DenialReason } from './api-denials'
import { ForbiddenError, INVALID_TOKEN_MESSAGE, MISSING_TOKEN_MESSAGE, RateLimitedError, UnauthorizedError } from './auth.errors'
import { ROLE_METADATA, joinRoute, routeAccess } from './roles'
import { bearerToken, roleAllows } from './token'
import { TokenService } from './token.service'
import { TokenThrottler, type AuthenticatedRequest } from './token-throttler.guard'

interface HttpRequest extends AuthenticatedRequest {
  method: string
  headers: Record<string, string | string[] | undefined>
  ip?: string
}

/**
 * The global guard: every `/api/v1` route needs a bearer token whose role allows it
 * ({@link RequireRole}; default viewer for GET, admin otherwise); `/health/live` is always
 * open; `/health`, `/health/ready` and `/metrics` need a token only with
 * `TW_METRICS_TOKEN_REQUIRED=true`. Authenticated requests are then rate-limited per token.
 * Runs before pipes and handlers, so a refused request never reaches a service or the engine.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly throttler: TokenThrottler,
    private readonly denials: ApiDenials,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'auth'>,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true
    const req = context.switchToHttp().getRequest<HttpRequest>()
    const route = joinRoute(this.reflector.get<string>(PATH_METADATA, context.getClass()), this.reflector.get<string>(PATH_METADATA, context.getHandler()))
    const declared = this.reflector.getAllAndOverride<TokenRole | undefined>(ROLE_METADATA, [context.getHandler(), context.getClass()])
    const access = routeAccess(req.method, route, declared, this.config.auth.metricsTokenRequired)
    if (access.open) return true

    const deny = (reason: DenialReason, error: Error, tokenId?: string): never => {
      this.denials.record(reason, { method: req.method, route, ip: req.ip, tokenId, sensitive: access.sensitive })
      throw error
    }
    const token = bearerToken(req.headers.authorization)
    if (token === null) return deny('missing_token', new UnauthorizedError(MISSING_TOKEN_MESSAGE))
    const who = token === '' ? null : await this.tokens.verify(token)
    if (!who) return deny('invalid_token', new UnauthorizedError(INVALID_TOKEN_MESSAGE))
    if (!roleAllows(who.role, access.role)) {
      return deny('forbidden', new ForbiddenError(`this route needs the ${access.role} role (token has ${who.role})`), who.id)
    }
    req.twAuth = { tokenId: who.id, role: who.role, name: who.name }
    try {
      await this.throttler.canActivate(context)
    } catch (err) {
      if (err instanceof RateLimitedError) return deny('rate_limited', err, who.id)
      throw err
    }
    return true
  }
}
