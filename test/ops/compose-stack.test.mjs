// docker/README.md followed step by step, without a Docker engine: every service of
// docker/docker-compose.yml (default profile and `regtest`) runs as a process with the command,
// environment, mounts and secrets the compose file gives it, and the stack ends with a
// confirmed regtest spend made through the CLI.
//
// How the compose file becomes processes (nothing of it is re-stated here):
// - each service's `command` (or the image's CMD, `node apps/node/dist/main.js`) is run from the
//   repository root, the way the image lays it out (WORKDIR /app = the repository);
// - its environment is `.env` (env_file) then its own `environment`, interpolated like compose;
// - every path it mounts (bind, named volume, secret) is replaced by where that file lives
//   here (./certs, ./secrets, a temporary directory per named volume);
// - every service name or fixed address with a port (etcd1:2379, 172.30.0.12:9000,
//   http://chain:3002) and every 0.0.0.0:<port> listen address becomes 127.0.0.1 with a free
//   port picked for that service and port;
// - `postgres` is the one service not run from its description: the machine's PostgreSQL
//   holds a fresh database (POSTGRES_DB) for the run, dropped at the end.
// Order: etcd members, etcd-acl (retried until it exits 0, as depends_on waits for healthy
// members), the nodes, the regtest chain. Everything started is stopped at the end.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DOCKER, loadYaml, parseEnvExample, read, ROOT } from './helpers.mjs'

const CLI = join(ROOT, 'apps/cli/bin/run.js')
const IMAGE_CMD = ['node', 'apps/node/dist/main.js']
const MACHINE_DATABASE_URL = process.env.TW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const requireFromNode = createRequire(join(ROOT, 'apps/node/package.json'))
const { Client } = requireFromNode('pg')
const { until: pollUntil } = requireFromNode(join(ROOT, 'apps/node/dist/testing/until.js'))
/** Polls (every 500 ms: some probes run the CLI) until the probe returns something truthy; the node's test helper. */
const until = (what, ms, probe) => pollUntil(what, ms, probe, 500)
const compose = loadYaml(read(join(DOCKER, 'docker-compose.yml')))
const services = compose.services

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A TCP port free on loopback now (the UDP one of the same number is checked by the node's bind). */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolvePort(port))
    })
  })
}

/** compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ with `vars`. */
function interpolate(s, vars) {
  return String(s)
    .replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_, name, op, arg) => {
      const v = vars[name]
      if (v !== undefined && v !== '') return v
      if (op?.endsWith('-')) return arg
      if (op?.endsWith('?')) throw new Error(`\${${name}}: ${arg}`)
      return ''
    })
    .replace(/\$\$/g, '$')
}

/** `KEY=value` lines of an env file (what compose's env_file reads). */
const envFile = (text) => parseEnvExample(text).values

describe('docker/README.md as processes: the compose stack with the regtest profile makes a confirmed spend through the CLI', { timeout: 15 * 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'tw-compose-stack-'))
  const dockerDir = join(work, 'docker') // the operator's copy of docker/: .env, certs/, secrets/
  const home = join(work, 'home') // the CLI's login file
  const dbName = `tw_compose_${process.pid}_${randomBytes(3).toString('hex')}`
  const procs = []
  const ports = new Map() // "<service>:<container port>" → host port
  const ipOf = new Map() // fixed address → service
  let vars = {} // .env as the nodes read it
  let token = ''
  let failed = false

  const cli = (args, { json = true } = {}) => {
    const r = spawnSync(process.execPath, [CLI, ...args, ...(json ? ['--json'] : [])], {
      cwd: dockerDir,
      env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 5 * 60_000,
    })
    if (r.error) throw r.error
    if (r.status !== 0) assert.fail(`threshold-wallet ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`)
    return json ? JSON.parse(r.stdout) : r.stdout
  }
  const hostPort = (service, port) => {
    const p = ports.get(`${service}:${port}`)
    if (!p) throw new Error(`no port picked for ${service}:${port}`)
    return p
  }

  /** Where each path `service` mounts lives here: container path → host path. */
  function mounts(name) {
    const svc = services[name]
    const out = new Map()
    for (const v of svc.volumes ?? []) {
      const [src, dst] = v.split(':')
      if (/^[./]/.test(src)) out.set(dst, resolve(dockerDir, src))
      else {
        const dir = join(work, 'volumes', src)
        mkdirSync(dir, { recursive: true, mode: 0o700 }) // etcd and the keystore want their directory private
        out.set(dst, dir)
      }
    }
    for (const s of svc.secrets ?? []) {
      const source = typeof s === 'string' ? s : s.source
      const target = typeof s === 'string' ? s : (s.target ?? s.source)
      out.set(target.startsWith('/') ? target : `/run/secrets/${target}`, resolve(dockerDir, compose.secrets[source].file))
    }
    return out
  }

  /** One value of `service`'s command or environment, as it applies to a process here. */
  function translate(name, value, m) {
    let s = String(value)
    for (const [dst, src] of [...m].sort((a, b) => b[0].length - a[0].length)) s = s.split(dst).join(src)
    s = s.replace(/\b0\.0\.0\.0:(\d+)/g, (_, p) => `127.0.0.1:${hostPort(name, p)}`)
    s = s.replace(/\b([a-z][a-z0-9-]*|\d+\.\d+\.\d+\.\d+):(\d{2,5})\b/g, (all, host, p) => {
      if (host === 'postgres' && p === '5432') return new URL(MACHINE_DATABASE_URL).host
      const target = services[host] ? host : ipOf.get(host)
      // Only a port the service listens on (an image tag such as grafana:11.2.2 is left alone).
      return target && ports.has(`${target}:${p}`) ? `127.0.0.1:${hostPort(target, p)}` : all
    })
    return s === '0.0.0.0' ? '127.0.0.1' : s
  }

  /** Starts `name` as compose describes it; its output goes to work/logs/<name>.log. */
  function start(name) {
    const svc = services[name]
    const m = mounts(name)
    const env = { PATH: process.env.PATH, HOME: join(work, 'volumes', `${name}-home`) }
    for (const f of [svc.env_file ?? []].flat()) Object.assign(env, envFile(read(resolve(dockerDir, typeof f === 'string' ? f : f.path))))
    for (const [k, v] of Object.entries(svc.environment ?? {})) env[k] = interpolate(v, vars)
    for (const [k, v] of Object.entries(env)) env[k] = k === 'TW_API_PORT' ? String(hostPort(name, v)) : translate(name, v, m)
    const command = (svc.command ?? IMAGE_CMD).map((a) => interpolate(a, vars))
    const args = command.map((a, i) => (command[i - 1] === '--port' ? String(hostPort(name, a)) : translate(name, a, m)))
    const [bin, ...rest] = args
    const log = openSync(join(work, 'logs', `${name}.log`), 'a')
    const proc = spawn(bin === 'node' ? process.execPath : bin, rest, { cwd: ROOT, env, stdio: ['ignore', log, log] })
    closeSync(log)
    procs.push({ name, proc })
    return proc
  }

  const exited = (proc) => new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r(proc.exitCode) : proc.once('exit', (code) => r(code))))

  before(async () => {
    mkdirSync(dockerDir)
    mkdirSync(home)
    mkdirSync(join(work, 'logs'))
    // Every (service, port) the compose file names for the services run here.
    const run = Object.keys(services).filter((n) => n !== 'postgres' && (services[n].profiles ?? []).every((p) => p === 'regtest'))
    for (const n of run) {
      const svc = services[n]
      const ip = svc.networks?.tw?.ipv4_address
      if (ip) ipOf.set(ip, n)
      const text = JSON.stringify([svc.command ?? [], svc.environment ?? {}])
      const named = [...text.matchAll(/0\.0\.0\.0:(\d+)/g)].map((x) => x[1])
      if (svc.environment?.TW_API_PORT) named.push(String(svc.environment.TW_API_PORT))
      const cmd = svc.command ?? []
      if (cmd.includes('--port')) named.push(String(cmd[cmd.indexOf('--port') + 1]))
      for (const p of named) if (!ports.has(`${n}:${p}`)) ports.set(`${n}:${p}`, await freePort())
    }

    // docker/README.md "Run it", in order.
    copyFileSync(join(DOCKER, '.env.example'), join(dockerDir, '.env'))
    let dotenv = read(join(dockerDir, '.env'))
    // "edit: POSTGRES_PASSWORD and TW_DATABASE_URL at least" (the machine's PostgreSQL user),
    // and "A first spend on regtest": TW_NETWORK=regtest, TW_CHAIN_URL=http://chain:3002, test primes.
    const edits = {
      POSTGRES_USER: new URL(MACHINE_DATABASE_URL).username || 'postgres',
      POSTGRES_PASSWORD: `pw${randomBytes(12).toString('hex')}`,
      POSTGRES_DB: dbName,
      TW_NETWORK: 'regtest',
      TW_CHAIN_URL: /TW_CHAIN_URL=(http:\/\/chain:\d+)/.exec(read(join(DOCKER, '.env.example')))[1],
      TW_INSECURE_TEST_PRIMES: 'true',
    }
    edits.TW_DATABASE_URL = `postgres://${edits.POSTGRES_USER}:${edits.POSTGRES_PASSWORD}@postgres:5432/${dbName}`
    for (const [k, v] of Object.entries(edits)) dotenv = dotenv.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`)
    writeFileSync(join(dockerDir, '.env'), dotenv)
    cli(['certs', 'generate', '--out', './certs', '--nodes', '5'])
    mkdirSync(join(dockerDir, 'secrets'))
    for (let i = 1; i <= 5; i++) writeFileSync(join(dockerDir, 'secrets', `node-${i}.keystore-key`), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
    writeFileSync(join(dockerDir, 'secrets', 'grafana-admin-password'), `${randomBytes(18).toString('base64')}\n`, { mode: 0o600 })
    token = cli(['tokens', 'bootstrap', '--env-file', '.env']).token
    // chmod 600 certs/*.key secrets/* (the chown to the image's uid has no meaning here: one user runs all).
    for (const f of readdirSync(join(dockerDir, 'certs')).filter((x) => x.endsWith('.key'))) chmodSync(join(dockerDir, 'certs', f), 0o600)
    vars = envFile(read(join(dockerDir, '.env')))
    assert.match(vars.TW_BOOTSTRAP_ADMIN_TOKEN_SHA256 ?? '', /^[0-9a-f]{64}$/, 'tokens bootstrap wrote the hash into .env')

    // postgres: the machine's server, the database the service would create.
    const admin = new Client({ connectionString: MACHINE_DATABASE_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)}`)
    await admin.end()

    // docker compose up -d: etcd, etcd-acl once the members answer, then the nodes.
    for (const n of Object.keys(services).filter((x) => /^etcd\d+$/.test(x))) start(n)
    await until('etcd-acl to exit 0 (the members up, the ACL applied, auth on)', 120_000, async () => {
      const code = await exited(start('etcd-acl'))
      return code === 0
    })
    for (const n of Object.keys(services).filter((x) => /^node\d+$/.test(x))) start(n)
    // docker compose --profile regtest up -d
    start('chain')
  })

  after(async () => {
    if (failed) {
      for (const { name } of procs.filter((p, i, all) => all.findIndex((q) => q.name === p.name) === i)) {
        try {
          const lines = read(join(work, 'logs', `${name}.log`))
            .trimEnd()
            .split('\n')
          process.stderr.write(`--- ${name}.log (last 30 lines)\n${lines.slice(-30).join('\n')}\n`)
        } catch {
          // never started
        }
      }
    }
    for (const { proc } of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await Promise.race([Promise.all(procs.map(({ proc }) => exited(proc))), sleep(15_000)])
    for (const { proc } of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    try {
      const admin = new Client({ connectionString: MACHINE_DATABASE_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(dbName)} WITH (FORCE)`)
      await admin.end()
    } catch {
      // the server went away: nothing to drop
    }
    rmSync(work, { recursive: true, force: true })
  })

  it('logs in with the bootstrap token, makes a Taproot key, is funded from the regtest chain, sends, and the payment confirms', async () => {
    try {
      // The published ports of docker/README.md (node1 on 127.0.0.1:8081, the chain on :3002).
      const node = `http://127.0.0.1:${hostPort('node1', services.node1.environment.TW_API_PORT)}`
      const chainPort = services.chain.command[services.chain.command.indexOf('--port') + 1]
      const chain = `http://127.0.0.1:${hostPort('chain', chainPort)}`
      for (const n of Object.keys(services).filter((x) => /^node\d+$/.test(x))) {
        const url = `http://127.0.0.1:${hostPort(n, services[n].environment.TW_API_PORT)}`
        await until(`${n} ready`, 180_000, async () => (await fetch(`${url}/health/ready`)).ok)
      }
      cli(['login', '--node', node, '--token', token])
      const status = await until('five nodes and a leader', 60_000, async () => {
        const s = cli(['cluster', 'status'])
        return s.nodesUp === 5 && s.leader !== null ? s : null
      })
      assert.equal(status.nodesUp, 5)

      const key = cli(['keys', 'create', '--protocol', 'schnorr'])
      assert.equal(key.status, 'active')
      const funded = cli(['devnet', 'fund', '--chain-url', chain, '--node', node, '--type', 'taproot', '--amount', '100000'])
      assert.equal(funded.amountSats, 100_000)
      await until('the funding confirmed in the balance', 60_000, async () => {
        const b = cli(['wallet', 'balance'])
        return b.wallets.find((w) => w.type === 'taproot')?.confirmedSats === 100_000
      })

      const to = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
      const sent = cli(['send', '--to', to, '--amount', '20000', '--type', 'taproot', '--fee-rate', '2', '--timeout', '300']).transaction
      assert.equal(sent.state, 'broadcast')
      cli(['devnet', 'mine', '--chain-url', chain])
      const done = await until('the send confirmed', 60_000, async () => {
        const t = cli(['tx', 'show', sent.id])
        return t.state === 'confirmed' ? t : null
      })
      assert.equal(done.txid, sent.txid)
      // The chain itself holds the payment, and the balance moved by exactly amount + fee.
      const paid = await (await fetch(`${chain}/api/address/${to}/utxo`)).json()
      assert.ok(
        paid.some((u) => u.txid === sent.txid && u.value === 20_000 && u.status.confirmed),
        JSON.stringify(paid),
      )
      await until('the balance after the send', 60_000, async () => {
        const b = cli(['wallet', 'balance'])
        return b.wallets.find((w) => w.type === 'taproot')?.confirmedSats === 100_000 - 20_000 - sent.feeSats
      })
    } catch (err) {
      failed = true
      throw err
    }
  })
})
