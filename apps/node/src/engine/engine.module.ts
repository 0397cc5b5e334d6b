import { Global, Module } from '@nestjs/common'
import { EngineRepository } from './engine.repository'

/** The native engine (`@tw/native`). */
@Global()
@Module({ providers: [EngineRepository], exports: [EngineRepository] })
export class EngineModule {}
