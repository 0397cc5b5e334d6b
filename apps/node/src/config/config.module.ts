import { DynamicModule, Global, Module } from '@nestjs/common'
import type { AppConfig } from './config'

/** DI token of the validated {@link AppConfig}. */
export const APP_CONFIG = Symbol('APP_CONFIG')

/** Provides the configuration read once by `main.ts`. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: APP_CONFIG, useValue: config }], exports: [APP_CONFIG] }
  }
}
