import { Global, Module } from '@nestjs/common'
import { EngineRepository } from './engine.repository'
import { PrimePoolService } from './prime-pool.service'

/** The native engine (`@tw/native`) and the background safe-prime pool. */
@Global()
@Module({ providers: [EngineRepository, PrimePoolService], exports: [EngineRepository, PrimePoolService] })
export class EngineModule {}
