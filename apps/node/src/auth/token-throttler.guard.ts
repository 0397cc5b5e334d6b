import { Inject, Injectable, type ExecutionContext } from '@nestjs/common'
import { Reflector } from '@nestjs/core'
import { ThrottlerGuard, getOptionsToken, getStorageToken, type ThrottlerLimitDetail, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler'
import { RateLimitedError } from './auth.errors'

/** What {@link AuthGuard} attaches to an authenticated request. */
export interface AuthenticatedRequest {
  twAuth?: { tokenId: string; role: string; name: string }
}

/**
 * @nestjs/throttler keyed by token (one budget per token across all routes). Only called by
 * {@link AuthGuard} after the token is verified; requests without a token are skipped.
 */
@Injectable()
export class TokenThrottler extends ThrottlerGuard {
  constructor(@Inject(getOptionsToken()) options: ThrottlerModuleOptions, @Inject(getStorageToken()) storage: ThrottlerStorage, reflector: Reflector) {
    super(options, storage, reflector)
  }

  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return !context.switchToHttp().getRequest<AuthenticatedRequest>().twAuth
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return `token:${(req as AuthenticatedRequest).twAuth?.tokenId ?? 'none'}`
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new RateLimitedError(`rate limit exceeded: at most ${detail.limit} requests per minute per token; retry in ${Math.ceil(detail.timeToBlockExpire)} s`)
  }
}
