/** The regtest chain's process handling, with the stand-in chain (src/testing/fake-regtest.ts). */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, test } from 'node:test'
import { pickFreePorts } from './ports'
import { isOurs, stopGroup } from './processes'
import { chainTipHeight, regtestArgs, regtestEntry, regtestMarker, RegtestClient, startRegtest } from './regtest'
import { DevnetPaths, RegtestState, urls } from './state'

const dir = mkdtempSync(join(tmpdir(), 'tw-cli-regtest-'))
const paths = new DevnetPaths(dir, '/')
const env = { ...process.env, TW_REGTEST_ENTRY: resolve(__dirname, '..', '..', 'testing', 'fake-regtest.js') }
let pid: number | undefined

after(async () => {
  if (pid !== undefined) await stopGroup(pid, { graceMs: 2000 })
  rmSync(dir, { recursive: true, force: true })
})

test('regtestArgs and regtestEntry', () => {
  assert.deepEqual(regtestArgs(new DevnetPaths('/data/.devnet'), { port: 3002, pid: null, blockIntervalMs: 10_000 }), [
    '--port',
    '3002',
    '--data-dir',
    '/data/.devnet/regtest',
    '--block-interval-ms',
    '10000',
  ])
  assert.equal(regtestEntry({ TW_REGTEST_ENTRY: 'x/main.js' }), resolve('x/main.js'))
  // Without the override: the @tw/regtest package's bin, or apps/regtest/dist/main.js of this checkout.
  assert.match(regtestEntry({}), /regtest[/\\](dist[/\\]main|bin[/\\]tw-regtest)\.js$/)
})

test('startRegtest starts the chain detached, finds it running the second time, and it stops on SIGTERM', async () => {
  const [port] = await pickFreePorts(1, 'tcp')
  const r: RegtestState = { port, pid: null, blockIntervalMs: 0 }
  const first = await startRegtest(paths, r, { timeoutMs: 20_000, env })
  pid = first.pid
  assert.equal(first.started, true)
  assert.ok(isOurs(first.pid, regtestMarker(paths)))
  assert.equal(await chainTipHeight(urls.chain(r)), 101)
  r.pid = first.pid
  const again = await startRegtest(paths, r, { timeoutMs: 5_000, env })
  assert.deepEqual(again, { pid: first.pid, started: false })
  const mined = await new RegtestClient(urls.chain(r)).mine(2)
  assert.equal(mined.height, 103)
  assert.equal(await stopGroup(first.pid, { graceMs: 5000 }), 'stopped')
  pid = undefined
  assert.equal(await chainTipHeight(urls.chain(r), 500), undefined)
})

test('startRegtest without a built chain is REGTEST_NOT_BUILT', async () => {
  await assert.rejects(
    startRegtest(paths, { port: 1, pid: null, blockIntervalMs: 0 }, { timeoutMs: 1000, env: { TW_REGTEST_ENTRY: '/nonexistent/main.js' } }),
    (e: { code?: string; message: string }) => e.code === 'REGTEST_NOT_BUILT' && /nonexistent/.test(e.message),
  )
})
