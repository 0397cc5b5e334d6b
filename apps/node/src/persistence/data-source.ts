import { DataSource, type DataSourceOptions } from 'typeorm'
import { ENTITIES } from './entities'
import { MIGRATIONS } from './migrations'

/** TypeORM options for the node's database: migrations only, never `synchronize`. */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    migrationsRun: false,
    logging: ['error'],
    extra: { max: 10, connectionTimeoutMillis: 3000 },
  }
}

/** Builds a (not yet initialized) DataSource for `url`. */
export function createDataSource(url: string): DataSource {
  return new DataSource(dataSourceOptions(url))
}
