import { Global, Module } from '@nestjs/common'
import { DatabaseRepository } from './database.repository'

/** PostgreSQL access: the DataSource lifecycle and transactions. */
@Global()
@Module({ providers: [DatabaseRepository], exports: [DatabaseRepository] })
export class PersistenceModule {}
