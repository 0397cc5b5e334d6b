/**
 * The DataSource for the TypeORM CLI, e.g.
 * `TW_DATABASE_URL=postgres://postgres@127.0.0.1/tw npx typeorm migration:run -d apps/node/dist/persistence/typeorm-cli.js`.
 * The node itself runs migrations at start-up (`DatabaseRepository.start`).
 */
import { loadDatabaseConfig } from '../config/config'
import { createDataSource } from './data-source'

export const AppDataSource = createDataSource(loadDatabaseConfig(process.env).url)
export default AppDataSource
