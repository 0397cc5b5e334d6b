import { Module } from '@nestjs/common'
import { APP_GUARD } from '@nestjs/core'
import { ThrottlerModule } from '@nestjs/throttler'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { ApiDenials } from './api-denials'
import { AuthGuard } from './auth.guard'
import { TokenThrottler } from './token-throttler.guard'
import { TokenService } from './token.service'
import { TokensController } from './tokens.controller'

/**
 * API access control: bearer tokens with roles (global {@link AuthGuard}), per-token rate
 * limits, denial metrics and audit, and the admin routes `/api/v1/tokens`. Needs the config,
 * persistence, audit, metrics and etcd (cluster) providers, which are global.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => ({ throttlers: [{ name: 'token', ttl: 60_000, limit: c.auth.rateLimitPerMin }] }),
    }),
  ],
  controllers: [TokensController],
  providers: [TokenService, TokenThrottler, ApiDenials, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenService, ApiDenials],
})
export class AuthModule {}
