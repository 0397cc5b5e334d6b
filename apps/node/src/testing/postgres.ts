import { randomBytes } from 'node:crypto'
import { DataSource } from 'typeorm'

/** The test machine's PostgreSQL (DESIGN §7): loopback, trust auth. */
export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/** A fresh database on the local server, dropped by `drop()`. */
export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

async function admin<T>(work: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = new DataSource({ type: 'postgres', url: PG_ADMIN_URL, logging: false })
  await ds.initialize()
  try {
    return await work(ds)
  } finally {
    await ds.destroy()
  }
}

export async function createTestDatabase(prefix = 'tw_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`
  await admin((ds) => ds.query(`CREATE DATABASE "${name}"`))
  const url = PG_ADMIN_URL.replace(/\/postgres$/, `/${name}`)
  return {
    name,
    url,
    drop: () => admin((ds) => ds.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  }
}
