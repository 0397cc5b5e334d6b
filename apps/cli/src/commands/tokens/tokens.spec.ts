import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import type { TokenDto } from '@tw/api'
import { configFilePath, devnetTokenPath, readCliConfig, resolveToken } from '../../shared/cli-config'
import { JsonServer, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import Login from '../login'
import Logout from '../logout'
import Profiles, { type ProfilesResult } from '../profiles'
import KeysList from '../keys/list'
import TokensBootstrap, { withBootstrapHash, type BootstrapResult } from './bootstrap'
import TokensCreate from './create'
import TokensList from './list'
import TokensRevoke from './revoke'

const ADMIN = 'tw_' + 'A'.repeat(43)
const OTHER = 'tw_' + 'B'.repeat(43)
const seen: (string | undefined)[] = []
const tokens: TokenDto[] = [
  { id: '0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b', name: 'bootstrap-admin', role: 'admin', createdAt: '2026-01-01T00:00:00Z', revokedAt: null, lastUsedAt: null },
]
let server: JsonServer
let url: string
let home: string
const saved = { ...process.env }

before(async () => {
  server = await startJsonServer((req) => {
    const auth = req.headers.authorization
    seen.push(auth)
    if (auth !== `Bearer ${ADMIN}`) return reply(401, { error: { code: 'UNAUTHORIZED', message: 'invalid or revoked token' } })
    if (req.method === 'GET' && req.url === '/api/v1/cluster/status') return reply(200, { nodeId: 3 })
    if (req.method === 'GET' && req.url === '/api/v1/keys') return reply(200, { keys: [] })
    if (req.method === 'GET' && req.url === '/api/v1/tokens') return reply(200, { tokens })
    if (req.method === 'POST' && req.url === '/api/v1/tokens') {
      const b = req.body as { name: string; role: TokenDto['role'] }
      const t: TokenDto = { id: '1c6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b', name: b.name, role: b.role, createdAt: '2026-01-02T00:00:00Z', revokedAt: null, lastUsedAt: null }
      tokens.push(t)
      return reply(201, { ...t, token: OTHER })
    }
    const m = /^\/api\/v1\/tokens\/([^/]+)\/revoke$/.exec(req.url)
    if (req.method === 'POST' && m) {
      const t = tokens.find((x) => x.id === m[1])
      if (!t) return reply(404, { error: { code: 'NOT_FOUND', message: 'no token' } })
      t.revokedAt = '2026-01-03T00:00:00Z'
      return reply(200, t)
    }
    return reply(404, { error: { code: 'NOT_FOUND', message: 'no such route' } })
  })
  url = server.url
})
after(async () => {
  await server.close()
  process.env = saved
})
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'tw-cli-home-'))
  process.env = { ...saved, XDG_CONFIG_HOME: home }
  delete process.env.TW_API_TOKEN
  delete process.env.TW_NODE_URL
  delete process.env.TW_DEVNET_DIR
  seen.length = 0
})

test('login checks the token, saves node and token with mode 0600; later commands use them', async () => {
  const bad = await runCommand(Login, ['--node', url, '--token', OTHER])
  assert.equal(bad.exitCode, 1)
  assert.match(bad.stderr, /UNAUTHORIZED.*threshold-wallet login/)
  const r = await runCommand<{ configFile: string; nodeId: number }>(Login, ['--node', url, '--token', ADMIN, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(r.result?.configFile, configFilePath())
  assert.equal(statSync(configFilePath()).mode & 0o777, 0o600)
  assert.deepEqual(JSON.parse(readFileSync(configFilePath(), 'utf8')), { node: url, token: ADMIN })
  // No --node, no --token: both come from the file.
  const list = await runCommand(KeysList, ['--json'])
  assert.equal(list.exitCode, 0, list.stderr)
  assert.equal(seen.at(-1), `Bearer ${ADMIN}`)
  // logout forgets both (nothing is read back), and a second logout says there was nothing.
  const out = await runCommand<{ configFile: string; removed: boolean }>(Logout, ['--json'])
  assert.deepEqual(out.result, { configFile: configFilePath(), removed: true, profile: null })
  assert.equal(existsSync(configFilePath()), false)
  const again = await runCommand(Logout, [])
  assert.match(again.stdout, /^Not logged in/)
  assert.deepEqual(readCliConfig(), {})
  rmSync(home, { recursive: true, force: true })
})

test('token precedence: --token > TW_API_TOKEN > devnet token (devnet nodes only) > login file', () => {
  mkdirSync(join(home, 'threshold-wallet'), { recursive: true })
  writeFileSync(configFilePath(), JSON.stringify({ node: url, token: 'tw_file' }))
  const env = { ...process.env }
  assert.equal(resolveToken('tw_flag', url, { ...env, TW_API_TOKEN: 'tw_env' }), 'tw_flag')
  assert.equal(resolveToken(undefined, url, { ...env, TW_API_TOKEN: 'tw_env' }), 'tw_env')
  assert.equal(resolveToken(undefined, url, env), 'tw_file')
  // A devnet in the working directory: its token for its nodes, the file's for others.
  const cwd = mkdtempSync(join(tmpdir(), 'tw-cli-cwd-'))
  mkdirSync(join(cwd, '.devnet', 'secrets'), { recursive: true })
  writeFileSync(join(cwd, '.devnet', 'state.json'), JSON.stringify({ version: 1, nodes: [{ id: 1, apiPort: 18081 }], etcd: [] }))
  writeFileSync(devnetTokenPath('.devnet', cwd), 'tw_devnet\n', { mode: 0o600 })
  assert.equal(resolveToken(undefined, 'http://127.0.0.1:18081', env, cwd), 'tw_devnet')
  assert.equal(resolveToken(undefined, url, env, cwd), 'tw_file')
  assert.equal(resolveToken(undefined, 'http://127.0.0.1:18081', { ...env, TW_API_TOKEN: 'tw_env' }, cwd), 'tw_env')
  rmSync(cwd, { recursive: true, force: true })
  rmSync(home, { recursive: true, force: true })
})

test('tokens create | list | revoke send the admin token and show the new token once', async () => {
  process.env.TW_API_TOKEN = ADMIN
  const c = await runCommand<{ token: string }>(TokensCreate, ['--node', url, '--name', 'grafana', '--role', 'viewer'])
  assert.equal(c.exitCode, 0, c.stderr)
  assert.match(c.stdout, new RegExp(OTHER))
  assert.match(c.stdout, /not shown again/)
  const bad = await runCommand(TokensCreate, ['--node', url, '--name', 'x', '--role', 'root'])
  assert.equal(bad.exitCode, 2)
  const l = await runCommand<{ tokens: TokenDto[] }>(TokensList, ['--node', url, '--json'])
  assert.equal(l.result?.tokens.length, 2)
  assert.doesNotMatch(l.stdout, /tw_/)
  const r = await runCommand<TokenDto>(TokensRevoke, ['--node', url, '1c6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /revoked/)
  assert.ok(seen.every((h) => h === `Bearer ${ADMIN}`))
  const flag = await runCommand(TokensList, ['--node', url, '--token', OTHER])
  assert.equal(flag.exitCode, 1, '--token wins over TW_API_TOKEN')
  assert.equal(seen.at(-1), `Bearer ${OTHER}`)
  rmSync(home, { recursive: true, force: true })
})

test('tokens bootstrap: a fresh admin token printed once, only its SHA-256 written into the env file (mode kept); a hash already set stays unless --force', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bootstrap-'))
  try {
    const env = join(dir, '.env')
    writeFileSync(env, '# API access control\nTW_BOOTSTRAP_ADMIN_TOKEN_SHA256=\nTW_METRICS_TOKEN_REQUIRED=false\n', { mode: 0o600 })
    const r = await runCommand(TokensBootstrap, ['--env-file', env, '--json'])
    assert.equal(r.exitCode, 0, r.stderr)
    const out = JSON.parse(r.stdout) as BootstrapResult
    assert.match(out.token, /^tw_[A-Za-z0-9_-]{43}$/)
    assert.equal(out.sha256, createHash('sha256').update(out.token).digest('hex'))
    assert.equal(readFileSync(env, 'utf8'), `# API access control\nTW_BOOTSTRAP_ADMIN_TOKEN_SHA256=${out.sha256}\nTW_METRICS_TOKEN_REQUIRED=false\n`)
    assert.ok(!readFileSync(env, 'utf8').includes(out.token), 'the token itself is never written')
    assert.equal(statSync(env).mode & 0o777, 0o600)
    const again = await runCommand(TokensBootstrap, ['--env-file', env, '--json'])
    assert.equal(again.exitCode, 1)
    assert.equal((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'BOOTSTRAP_HASH_SET')
    assert.match(readFileSync(env, 'utf8'), new RegExp(`=${out.sha256}\n`), 'kept')
    const forced = JSON.parse((await runCommand(TokensBootstrap, ['--env-file', env, '--force', '--json'])).stdout) as BootstrapResult
    assert.match(readFileSync(env, 'utf8'), new RegExp(`^TW_BOOTSTRAP_ADMIN_TOKEN_SHA256=${forced.sha256}$`, 'm'))
    assert.equal(withBootstrapHash('A=1', 'ab', false), 'A=1\nTW_BOOTSTRAP_ADMIN_TOKEN_SHA256=ab\n', 'appended when absent')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('named profiles: login --profile saves a second cluster beside the default login; --profile / TW_PROFILE pick its node and token; an unknown one is refused; logout --profile forgets only it', async () => {
  const prod = await startJsonServer((req) => {
    seen.push(`prod ${req.headers.authorization}`)
    if (req.headers.authorization !== `Bearer ${OTHER}`) return reply(401, { error: { code: 'UNAUTHORIZED', message: 'invalid or revoked token' } })
    if (req.url === '/api/v1/cluster/status') return reply(200, { nodeId: 4 })
    if (req.url === '/api/v1/keys') return reply(200, { keys: [] })
    return reply(404, { error: { code: 'NOT_FOUND', message: 'no such route' } })
  })
  try {
    assert.equal((await runCommand(Login, ['--node', url, '--token', ADMIN])).exitCode, 0)
    const saved = await runCommand<{ profile: string | null }>(Login, ['--profile', 'prod', '--node', prod.url, '--token', OTHER, '--json'])
    assert.equal(saved.exitCode, 0, saved.stderr)
    assert.equal(saved.result?.profile, 'prod')
    assert.deepEqual(JSON.parse(readFileSync(configFilePath(), 'utf8')), { node: url, token: ADMIN, profiles: { prod: { node: prod.url, token: OTHER } } })
    // No --node/--token: the default login, or the profile's node and token.
    assert.equal((await runCommand(KeysList, ['--json'])).exitCode, 0)
    assert.equal(seen.at(-1), `Bearer ${ADMIN}`)
    assert.equal((await runCommand(KeysList, ['--profile', 'prod', '--json'])).exitCode, 0)
    assert.equal(seen.at(-1), `prod Bearer ${OTHER}`)
    process.env.TW_PROFILE = 'prod'
    assert.equal((await runCommand(KeysList, ['--json'])).exitCode, 0)
    assert.equal(seen.at(-1), `prod Bearer ${OTHER}`)
    const listed = await runCommand<ProfilesResult>(Profiles, ['--json'])
    assert.deepEqual(listed.result, { configFile: configFilePath(), default: url, profiles: [{ name: 'prod', node: prod.url }], current: 'prod' })
    assert.ok(!listed.stdout.includes(OTHER) && !listed.stdout.includes(ADMIN), 'tokens are never listed')
    delete process.env.TW_PROFILE
    const typo = await runCommand(KeysList, ['--profile', 'prdo', '--json'])
    assert.equal(typo.exitCode, 2)
    assert.match((JSON.parse(typo.stdout) as { error: { code: string; message: string } }).error.message, /no saved profile "prdo" \(saved: prod\)/)
    assert.equal((await runCommand(KeysList, ['--profile', 'no spaces', '--json'])).exitCode, 2)
    assert.equal((await runCommand(Logout, ['--profile', 'prod'])).exitCode, 0)
    assert.deepEqual(JSON.parse(readFileSync(configFilePath(), 'utf8')), { node: url, token: ADMIN })
    assert.equal((await runCommand(Logout, [])).exitCode, 0)
    assert.equal(existsSync(configFilePath()), false, 'nothing left: the file is gone')
  } finally {
    await prod.close()
  }
})
