import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { Client } from 'pg'
import { CLI_ROOT } from './run-command'

export const BIN = resolve(CLI_ROOT, 'bin', 'run.js')

export interface BinResult<T> {
  status: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON (commands run with --json). */
  json: T
}

/** Runs the built `threshold-wallet` binary with `--json` and parses its stdout. */
export function runBin<T>(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 900_000): BinResult<T> {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { env, encoding: 'utf8', timeout: timeoutMs })
  if (r.error) throw r.error
  let json: T
  try {
    json = JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`threshold-wallet ${args.join(' ')} printed no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`)
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json }
}

/** The machine's PostgreSQL (trust auth), as the tests use it. */
export const MACHINE_DATABASE_URL = process.env.TW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A database name unique to this run. */
export function uniqueDbName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`
}

export async function dropDatabase(url: string, name: string): Promise<void> {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`)
  } finally {
    await c.end()
  }
}
