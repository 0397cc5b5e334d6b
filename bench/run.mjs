#!/usr/bin/env node
// The cluster benchmark: measures the five-node devnet through its REST API and /metrics, runs
// the bare engine benchmark and a peer library in the same run, prints one table with the
// targets, writes bench/results/devnet-<quick|full>.json and regenerates docs/PERFORMANCE.md.
//
//   npm run bench [-- --quick] [-- --node URL --chain-url URL] [--dir .devnet] [--no-engine] [--reuse-engine] [--no-peer]
//   npm run bench -- --history [N]   the soak (bench/history.mjs): N finished sends of history, etcd/latency/memory per step
//
// Plain ESM, no build step; talks to the nodes through the typed client of @tw/api (libs/api/dist).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { counterDelta, fmt, histogramDelta, histogramQuantile, loadAverage, machineInfo, now, parseProm, rssKb, sleep, stats } from './lib.mjs'
import { runPeer } from './peer.mjs'
import { runEcdsaPeer } from './peer-ecdsa.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)
const resultsDir = join(root, 'bench', 'results')

// ------------------------------------------------------------------ options
const argv = process.argv.slice(2)
const flag = (name) => argv.includes(name)
const opt = (name) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const QUICK = flag('--quick')
const MODE = QUICK ? 'quick' : 'full'
const BUDGET_MS = QUICK ? 120_000 : Infinity
const HISTORY = flag('--history')
// The soak runs on a devnet of its own (short retention), outside the work tree.
const devnetDir = resolve(root, opt('--dir') ?? (HISTORY ? join(tmpdir(), 'tw-bench-history') : '.devnet'))
let started = now()
const elapsed = () => now() - started
const log = (m) => process.stderr.write(`bench: ${m}\n`)
const notes = []
const note = (m) => {
  notes.push(m)
  log(`note: ${m}`)
}

const apiDist = join(root, 'libs', 'api', 'dist', 'index.js')
if (!existsSync(apiDist)) {
  console.error(`bench: ${apiDist} is missing; build the workspace first (npx tsc -b libs/api)`)
  process.exit(2)
}
const { ApiClient, ApiError } = require(apiDist)

// Targets from the issues: { text, check(op) -> boolean }. Keyed by the operation name below.
const TARGETS = {
  'sign ecdsa, presignature ready (per signature)': { text: 'p50 ≤ 25 ms', ok: (o) => o.p50_ms <= 25 },
  'sign frost (per signature)': { text: 'p50 ≤ 10 ms', ok: (o) => o.p50_ms <= 10 },
  'send → broadcast, segwit, presignature ready': { text: 'p50 ≤ 150 ms', ok: (o) => o.p50_ms <= 150 },
  'send → broadcast, taproot (frost)': { text: 'p50 ≤ 150 ms', ok: (o) => o.p50_ms <= 150 },
  'presignature generation': { text: '≥ 60 / min', ok: (o) => o.throughput_per_min >= 60 },
  'voting round (proposal → 4 signed votes)': {
    text: 'p50 ≤ 15 ms, ≥ 1000 / min',
    ok: (o) => o.p50_ms <= 15 && (o.throughput_per_min ?? 0) >= 1000,
  },
}

// ------------------------------------------------------------------ devnet discovery
function readState() {
  const f = join(devnetDir, 'state.json')
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined
}

/** The API token: --token, TW_API_TOKEN, or the devnet's admin token (`.devnet/secrets/api-admin-token`). */
function apiToken() {
  const fromFlag = opt('--token') ?? process.env.TW_API_TOKEN
  if (fromFlag) return fromFlag
  const f = join(devnetDir, 'secrets', 'api-admin-token')
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined
}

async function findDevnet() {
  const token = apiToken()
  const nodeUrl = opt('--node')
  const chainUrl = opt('--chain-url')
  if (nodeUrl) {
    if (!chainUrl) throw new Error('--node needs --chain-url too')
    const api = new ApiClient({ baseUrl: nodeUrl, token })
    const st = await api.clusterStatus()
    const urls = st.nodes.map((n) => n.apiUrl).filter(Boolean)
    return { source: 'flags', nodes: urls.map((u, i) => ({ id: st.nodes[i].nodeId, url: u, pid: null })), chainUrl, started: false }
  }
  let state = readState()
  let startedHere = false
  const alive = async (s) => {
    if (!s?.nodes?.length || !s.regtest) return false
    try {
      const h = await new ApiClient({ baseUrl: `http://127.0.0.1:${s.nodes[0].apiPort}`, timeoutMs: 3000 }).health('ready')
      return h.status === 'ok'
    } catch {
      return false
    }
  }
  if (!(await alive(state))) {
    log(`no running devnet in ${devnetDir}: starting one with \`threshold-wallet devnet up\`.`)
    log('this takes minutes the first time (ECDSA aux info across five nodes); later starts reuse it.')
    log('the nodes are started with TW_PRESIG_AUTOFILL=false so the background presignature refill does not run during measurements,')
    log('and TW_RATE_LIMIT_PER_MIN=1000000 so that the harness polling many transactions at once is not throttled.')
    const r = spawnSync(process.execPath, [join(root, 'apps', 'cli', 'bin', 'run.js'), 'devnet', 'up', '--dir', devnetDir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        TW_PRESIG_AUTOFILL: 'false',
        TW_RATE_LIMIT_PER_MIN: '1000000',
        // The soak: a short retention, so that the retention's work shows within the run.
        ...(HISTORY ? { TW_TX_RETENTION_S: opt('--retention-s') ?? '60' } : {}),
      },
    })
    if (r.status !== 0) throw new Error(`devnet up failed (exit ${r.status})`)
    state = readState()
    startedHere = true
  }
  return {
    source: `${devnetDir}/state.json`,
    nodes: state.nodes.map((n) => ({ id: n.id, url: `http://127.0.0.1:${n.apiPort}`, pid: n.pid })),
    chainUrl: chainUrl ?? `http://127.0.0.1:${state.regtest.port}`,
    started: startedHere,
    logs: join(devnetDir, 'logs'),
  }
}

// ------------------------------------------------------------------ chain and wallet helpers
async function chainCall(chainUrl, path, body) {
  const res = await fetch(chainUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${text.slice(0, 200)}`)
  return text ? JSON.parse(text) : {}
}

function externalAddress() {
  // An address outside the wallet (P2WPKH of a fixed hash) so sends leave the wallet.
  const bitcoin = require(require.resolve('bitcoinjs-lib', { paths: [join(root, 'libs', 'bitcoin')] }))
  return bitcoin.payments.p2wpkh({ hash: Buffer.alloc(20, 7), network: bitcoin.networks.regtest }).address
}

class Bench {
  constructor(devnet) {
    this.devnet = devnet
    const token = apiToken()
    this.apis = devnet.nodes.map((n) => new ApiClient({ baseUrl: n.url, token, timeoutMs: 60_000 }))
    this.api = this.apis[0]
    this.to = externalAddress()
    this.seq = 0
    this.conflicts = 0
    this.throttled = 0
    this.inflight = 0
  }

  /** `fn()`, waiting out 429 RATE_LIMITED answers (a devnet started with the default TW_RATE_LIMIT_PER_MIN). */
  async unthrottled(fn) {
    for (;;) {
      try {
        return await fn()
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'RATE_LIMITED')) throw e
        if (this.throttled++ === 0)
          note(
            'the node answered 429 RATE_LIMITED: the harness waits and polls again; start the devnet with TW_RATE_LIMIT_PER_MIN=1000000 (as `npm run bench` does when it starts one) for undisturbed figures',
          )
        await sleep(1000)
      }
    }
  }

  async wallet(type) {
    const b = await this.unthrottled(() => this.api.balance())
    return b.wallets.find((w) => w.type === type) ?? { utxos: 0, confirmedSats: 0, unconfirmedSats: 0 }
  }

  /** Pays `amounts` (sats) from the faucet to fresh addresses of `type`, mines, waits until the node sees them. */
  async fund(type, amounts) {
    const before = await this.wallet(type)
    for (const a of amounts) {
      const { address } = await this.api.address(type)
      await chainCall(this.devnet.chainUrl, '/regtest/faucet', { address, amountSats: a })
    }
    await chainCall(this.devnet.chainUrl, '/regtest/mine', { blocks: 1 })
    const want = before.confirmedSats + amounts.reduce((x, y) => x + y, 0)
    const deadline = Date.now() + 60_000
    for (;;) {
      const w = await this.wallet(type)
      if (w.confirmedSats >= want) return w
      if (Date.now() > deadline) throw new Error(`funding ${type}: the node sees ${w.confirmedSats} of ${want} sats after 60 s`)
      await sleep(100)
    }
  }

  async mine() {
    await chainCall(this.devnet.chainUrl, '/regtest/mine', { blocks: 1 })
  }

  /**
   * POST /transactions, then polls every 20 ms (× sends in flight) until broadcast. `ms` runs from the request to the
   * moment the leader recorded the broadcast (the transaction's own history; one machine, one
   * clock), so the client's polling interval is not part of the figure; `seen_ms` is when this
   * client saw it.
   */
  async send(type, amountSats, { feeRate = 1, timeoutMs = 180_000 } = {}) {
    const t0 = now()
    const wall0 = Date.now()
    this.inflight++
    try {
      return await this.sendAndWait(type, amountSats, { feeRate, timeoutMs, t0, wall0 })
    } finally {
      this.inflight--
    }
  }

  async sendAndWait(type, amountSats, { feeRate, timeoutMs, t0, wall0 }) {
    let tx
    let retries = 0
    let polls = 0
    for (;;) {
      const key = `bench-${process.pid}-${Date.now()}-${this.seq++}`
      try {
        tx = await this.unthrottled(() => this.api.send({ to: this.to, amountSats, type, feeRate }, key))
        break
      } catch (e) {
        // 409 CONFLICT "could not reserve coins: … retry": concurrent sends raced for coins.
        if (!(e instanceof ApiError && e.code === 'CONFLICT') || retries >= 20) throw e
        retries++
        this.conflicts++
        await sleep(20 * retries)
      }
    }
    while (!['broadcast', 'confirmed'].includes(tx.state)) {
      if (['rejected', 'failed', 'expired'].includes(tx.state)) {
        throw new Error(`send ${tx.id} ${tx.state}: ${tx.error?.code ?? ''} ${tx.error?.message ?? ''}`)
      }
      if (now() - t0 > timeoutMs) throw new Error(`send ${tx.id} still ${tx.state} after ${timeoutMs} ms`)
      // All pollers together ask about 50 times a second, however many sends are in flight:
      // the harness must not be what loads the node it measures.
      await sleep(20 * Math.max(1, this.inflight))
      tx = await this.unthrottled(() => this.api.transaction(tx.id))
      polls++
    }
    const seen = now() - t0
    const wall1 = Date.now()
    const broadcastAt = Date.parse(tx.history.find((h) => h.state === 'broadcast')?.at ?? '')
    const ms = Number.isFinite(broadcastAt) ? Math.min(seen, Math.max(0, broadcastAt - wall0)) : seen
    return { ms, seen_ms: seen, tx, t0, t1: t0 + ms, retries, wall0, wall1, polls }
  }

  async scrape() {
    return Promise.all(this.apis.map(async (a) => parseProm(await a.metrics())))
  }

  rss() {
    return Object.fromEntries(this.devnet.nodes.map((n) => [`node-${n.id}`, rssKb(n.pid)]))
  }
}

/** Where a send's time went, from the transaction's own history (all clocks are this machine's). */
const PHASES = [
  ['request → proposal stored', (r) => Date.parse(r.tx.createdAt) - r.wall0],
  ['proposal → approved (votes)', (r, at) => at('approved') - Date.parse(r.tx.createdAt)],
  ['approved → signing (signers, presignatures)', (r, at) => at('signing') - at('approved')],
  ['signing → signed', (r, at) => at('signed') - at('signing')],
  ['signed → broadcast', (r, at) => at('broadcast') - at('signed')],
  ['broadcast → seen by the client', (r, at) => r.wall1 - at('broadcast')],
]
function phases(results) {
  const out = {}
  for (const [name, f] of PHASES) {
    const xs = results
      .map((r) => {
        // The last time the transaction entered each state (a retried attempt re-enters signing).
        const at = (state) => Date.parse([...r.tx.history].reverse().find((h) => h.state === state)?.at ?? 'x')
        return f(r, at)
      })
      .filter((x) => Number.isFinite(x))
    out[name] = stats(xs).p50_ms
  }
  return out
}

/** `d` with every value multiplied by `f`. */
const scaled = (d, f) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v * f]))

/**
 * Round trips to etcd per send between two scrapes of every node (`mpc_etcd_requests_total`):
 * the leader's (the node with the most transaction-record writes) and a follower's on average
 * (a follower votes on every send and signs when it is in the signer set), each by kind and
 * key area, plus the cluster's total. Background loops (membership, presignature refill, the
 * worker's resync) count too: they are part of what a send competes with. This client's own
 * polls of node 1 (`polls` of them, `perPoll` round trips each) are taken out.
 */
function etcdRequestsPerSend(before, after, sends, perPoll, polls) {
  if (!sends) return null
  const perNode = after.map((a, i) => counterDelta(before[i] ?? [], a, 'mpc_etcd_requests_total'))
  if (perNode.every((d) => Object.keys(d).length === 0)) return null // nodes older than the metric
  for (const [k, v] of Object.entries(perPoll)) if (perNode[0][k] !== undefined) perNode[0][k] = Math.max(0, perNode[0][k] - v * polls)
  const total = (d) => Object.values(d).reduce((x, y) => x + y, 0)
  const leader = perNode.reduce((best, d, i) => ((d['area=tx op=txn'] ?? 0) > (perNode[best]['area=tx op=txn'] ?? 0) ? i : best), 0)
  const per = (d, divisor) =>
    Object.fromEntries(
      Object.entries(d)
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => [k.replace(/^area=(\S+) op=(\S+)$/, '$2 $1'), +(v / divisor).toFixed(2)]),
    )
  const followers = perNode.filter((_, i) => i !== leader)
  const followerSum = {}
  for (const d of followers) for (const [k, v] of Object.entries(d)) followerSum[k] = (followerSum[k] ?? 0) + v
  return {
    sends,
    leader_node: leader + 1,
    leader: { total: +(total(perNode[leader]) / sends).toFixed(1), by: per(perNode[leader], sends) },
    follower_mean: { total: +(total(followerSum) / sends / Math.max(1, followers.length)).toFixed(1), by: per(followerSum, sends * Math.max(1, followers.length)) },
    cluster_total: +(perNode.reduce((x, d) => x + total(d), 0) / sends).toFixed(1),
    client_polls_excluded: { per_send: +(polls / sends).toFixed(1), round_trips_each: +total(perPoll).toFixed(1) },
  }
}

/** Proposal → fourth approving signed vote, from the transaction's own timestamps. */
function votingRound(tx) {
  const approvals = tx.votes
    .filter((v) => v.approve && v.signatureValid)
    .map((v) => Date.parse(v.votedAt))
    .sort((a, b) => a - b)
  if (approvals.length < 4) return null
  return { ms: approvals[3] - Date.parse(tx.createdAt), start: Date.parse(tx.createdAt), end: approvals[3] }
}

// ------------------------------------------------------------------ engine (bare) and peer
function engineBare() {
  const file = join(resultsDir, QUICK ? 'engine-bare-quick.json' : 'engine-bare.json')
  const aux = join(resultsDir, 'engine-aux-info.cache')
  // Quick mode, or --reuse-engine (the full bare benchmark costs about 15 minutes of CPU on two
  // cores): the bare results on disk, those recorded on this machine's CPU model first; among
  // equals this mode's file first, then the full one, then the quick one.
  const cpu = machineInfo(root).cpu_model
  const candidates = [...new Set([file, join(resultsDir, 'engine-bare.json'), join(resultsDir, 'engine-bare-quick.json')])].filter((f) => existsSync(f))
  const onThisCpu = (f) => {
    try {
      return String(JSON.parse(readFileSync(f, 'utf8')).machine ?? '').includes(cpu)
    } catch {
      return false
    }
  }
  const onDisk = candidates.find(onThisCpu) ?? candidates[0]
  if ((QUICK || flag('--reuse-engine')) && onDisk) {
    const doc = JSON.parse(readFileSync(onDisk, 'utf8'))
    const where = onThisCpu(onDisk) ? 'this CPU model' : `another machine: ${doc.machine}; the ratios compare machines`
    note(
      `bare engine: reused ${onDisk.slice(root.length)}, recorded on ${where} (${QUICK ? 'quick mode' : '--reuse-engine'}: \`cargo bench\` not rerun; \`npm run bench\` reruns it)`,
    )
    return { file: onDisk.slice(root.length), reused: true, doc }
  }
  if (flag('--no-engine')) {
    note('bare engine: skipped (--no-engine)')
    return null
  }
  log(`bare engine: cargo bench -p tw-engine --bench protocols -- ${QUICK ? '--quick ' : ''}--reuse-aux ${aux} --json ${file}`)
  const args = ['bench', '-p', 'tw-engine', '--bench', 'protocols', '--', ...(QUICK ? ['--quick'] : []), '--reuse-aux', aux, '--json', file]
  const r = spawnSync('cargo', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) {
    note(`bare engine: cargo bench failed (exit ${r.status}); no cluster ÷ bare ratios`)
    return null
  }
  return { file: file.slice(root.length), reused: false, doc: JSON.parse(readFileSync(file, 'utf8')) }
}

// Which bare-engine and peer operation each cluster operation is compared with.
const BARE_OF = {
  'sign ecdsa, presignature ready (per signature)': 'ecdsa sign with presignature',
  'sign ecdsa, full (per signature)': 'ecdsa full sign',
  'sign frost (per signature)': 'frost sign',
  'presignature generation': 'ecdsa presignature',
  'dkg ecdsa (POST /keys)': 'ecdsa keygen',
  'dkg schnorr (POST /keys)': 'frost dkg',
  'aux info (from node logs)': 'ecdsa aux info (pooled primes)',
}
// Peer operation names are unique across the two peers (FROST: @noble/curves, ECDSA: DKLs23).
const PEER_OF = {
  'sign frost (per signature)': 'frost sign',
  'dkg schnorr (POST /keys)': 'frost dkg',
  'sign ecdsa, presignature ready (per signature)': 'ecdsa sign with presignature',
  'sign ecdsa, full (per signature)': 'ecdsa full sign',
  'presignature generation': 'ecdsa presignature',
}

// ------------------------------------------------------------------ the run
async function main() {
  mkdirSync(resultsDir, { recursive: true })
  const machine = machineInfo(root)
  const loadStart = loadAverage()
  log(`${MODE} run on ${machine.cores} × ${machine.cpu_model}; load average ${loadStart.one} ${loadStart.five} ${loadStart.fifteen}`)
  if (loadStart.one > machine.cores) note(`the machine was busy at the start (1-min load ${loadStart.one} on ${machine.cores} cores): figures are pessimistic`)

  const devnet = await findDevnet()
  // Starting a devnet (aux info, DKG) is not part of the measurement or of the quick budget.
  const devnetStartS = devnet.started ? +(elapsed() / 1000).toFixed(1) : null
  if (devnet.started) {
    note(`the devnet was started by this run in ${devnetStartS} s (not counted in the run's duration)`)
    started = now()
  }
  const b = new Bench(devnet)
  log(`devnet: ${devnet.nodes.map((n) => n.url).join(' ')}; chain ${devnet.chainUrl}`)

  // Ready: all nodes healthy, both keys active.
  for (const a of b.apis) {
    const h = await a.health('ready')
    if (h.status !== 'ok') throw new Error(`node ${a.opts?.baseUrl ?? ''} not ready`)
  }
  const keys = (await b.api.listKeys()).keys
  for (const p of ['ecdsa', 'schnorr']) {
    if (!keys.some((k) => k.protocol === p && k.status === 'active')) throw new Error(`no active ${p} key on the devnet`)
  }
  const presigAtStart = await b.api.presignatureStatus()
  if (presigAtStart.generating > 0) note(`${presigAtStart.generating} presignature(s) were being generated when the run started (background refill?): they compete for CPU`)

  const ops = []
  const add = (name, o) => {
    const row = { name, ...o }
    ops.push(row)
    log(`${name}: p50 ${fmt(row.p50_ms)} ms, p99 ${fmt(row.p99_ms)} ms${row.throughput_per_min ? `, ${fmt(row.throughput_per_min)}/min` : ''} (${row.samples} samples)`)
    return row
  }
  const memory = { before: b.rss() }
  const sends = { segwit_fast: [], segwit_full: [], taproot: [] }
  const sendResults = { 'segwit, presignature ready': [], taproot: [] }
  const rounds = []
  const S = 200_000 // sats per funding UTXO of the latency runs

  // Funding for the latency runs.
  const nTap = QUICK ? 6 : 40
  const nFast = QUICK ? 2 : 10
  const nFull = QUICK ? 1 : 3
  log(`funding: ${nTap + 1} taproot and ${nFast} segwit UTXOs`)
  await b.fund('taproot', Array(nTap + 1).fill(S))
  await b.fund('segwit', Array(nFast).fill(S))

  // Warm-up: one taproot send (HTTP and QUIC connections, JIT, caches), not counted. A segwit
  // warm-up would be a full signing (no presignature yet): seconds of CPU that tell nothing more.
  log('warm-up: one taproot send')
  await b.send('taproot', 10_000)
  await b.mine()
  const m1 = await b.scrape()

  // Presignature generation: count = every uncovered spendable coin (quick mode: only as many as
  // the fast sends spend; coin selection prefers presigned coins) + the next receive and change address.
  const st0 = await b.api.presignatureStatus()
  const uncovered = Math.max(1, st0.coverage.utxos - st0.coverage.covered)
  const count = (QUICK ? Math.min(uncovered, nFast) : uncovered) + 2
  log(`presignatures: POST count=${count} (coverage ${st0.coverage.covered}/${st0.coverage.utxos})`)
  const readyBefore = Object.values(st0.ready).reduce((x, y) => x + y, 0)
  const tp = now()
  const jobs = await b.api.generatePresignatures({ count })
  let st = st0
  for (;;) {
    st = await b.api.presignatureStatus()
    if (st.generating === 0) break
    if (now() - tp > 15 * 60_000) throw new Error('presignatures not ready after 15 min')
    await sleep(50)
  }
  const presigMs = now() - tp
  const made = Object.values(st.ready).reduce((x, y) => x + y, 0) - readyBefore
  add('presignature generation', {
    samples: made,
    p50_ms: presigMs / Math.max(made, 1),
    p99_ms: null,
    throughput_per_min: (made / presigMs) * 60_000,
    method: `POST /api/v1/presignatures {count: ${jobs.queued.length}} → GET /presignatures/status until none generating; ${made} made in ${(presigMs / 1000).toFixed(1)} s; p50 column = wall time per presignature`,
  })
  if (made < jobs.queued.length) note(`presignatures: ${jobs.queued.length - made} of ${jobs.queued.length} burned or failed`)
  log(`coverage now ${st.coverage.covered}/${st.coverage.utxos}`)

  // Fast path: SegWit sends whose every input has a ready presignature.
  const mFast0 = await b.scrape()
  for (let i = 0; i < nFast; i++) {
    const r = await b.send('segwit', 10_000)
    if (r.tx.signingMode !== 'presignature') note(`segwit send ${r.tx.id} used signing mode ${r.tx.signingMode}, not the presignature (counted under its mode)`)
    ;(r.tx.signingMode === 'presignature' ? sends.segwit_fast : sends.segwit_full).push(r.ms)
    if (r.tx.signingMode === 'presignature') sendResults['segwit, presignature ready'].push(r)
    const v = votingRound(r.tx)
    if (v) rounds.push(v.ms)
  }

  // Taproot (FROST) sends, sequential.
  const mTap0 = await b.scrape()
  for (let i = 0; i < nTap; i++) {
    const r = await b.send('taproot', 10_000)
    sends.taproot.push(r.ms)
    sendResults.taproot.push(r)
    const v = votingRound(r.tx)
    if (v) rounds.push(v.ms)
  }

  const mSeq = await b.scrape()
  // What one of this client's polls (GET /transactions/:id on node 1) costs node 1 in etcd
  // round trips, so the polls can be taken out of the send's own figure.
  const lastTx = sendResults.taproot.at(-1)?.tx
  const CALIBRATION_GETS = 20
  const mPoll0 = await b.scrape()
  for (let i = 0; lastTx && i < CALIBRATION_GETS; i++) await b.api.transaction(lastTx.id)
  const mPoll1 = await b.scrape()
  const perPoll = lastTx ? scaled(counterDelta(mPoll0[0], mPoll1[0], 'mpc_etcd_requests_total'), 1 / CALIBRATION_GETS) : {}
  const pollsOf = (rs) => rs.reduce((x, r) => x + r.polls, 0)
  const etcdPerSend = {
    'segwit, presignature ready': etcdRequestsPerSend(mFast0, mTap0, sendResults['segwit, presignature ready'].length, perPoll, pollsOf(sendResults['segwit, presignature ready'])),
    taproot: etcdRequestsPerSend(mTap0, mSeq, nTap, perPoll, pollsOf(sendResults.taproot)),
  }

  const sendRow = (samples, extra) => ({ ...stats(samples), throughput_per_min: samples.length ? 60_000 / stats(samples).mean_ms : null, ...extra })
  add('send → broadcast, segwit, presignature ready', sendRow(sends.segwit_fast, { method: 'POST /transactions → state broadcast (history timestamps); sequential' }))
  add('send → broadcast, taproot (frost)', sendRow(sends.taproot, { method: 'POST /transactions → state broadcast; sequential' }))

  // Per-signature signing time from the nodes' own histogram, per mode.
  const sigRow = (mode, before = m1, after = mSeq) => {
    const h = histogramDelta(before, after, 'mpc_signature_duration_seconds', { mode })
    if (!h.count) return { samples: 0, p50_ms: null, p99_ms: null }
    return {
      samples: h.count,
      p50_ms: histogramQuantile(h, 0.5) * 1000,
      p99_ms: histogramQuantile(h, 0.99) * 1000,
      mean_ms: (h.sum / h.count) * 1000,
      method: `mpc_signature_duration_seconds{mode="${mode}"} scraped from all nodes before/after: mean = Δsum/Δcount, p50/p99 interpolated in the buckets (each signer observes once per transaction, per input)`,
    }
  }
  add('sign ecdsa, presignature ready (per signature)', sigRow('presignature'))
  add('sign frost (per signature)', sigRow('frost'))

  const hv = histogramDelta(m1, mSeq, 'mpc_vote_duration_seconds')
  add('vote, one node (metric)', {
    samples: hv.count,
    p50_ms: histogramQuantile(hv, 0.5) * 1000,
    p99_ms: histogramQuantile(hv, 0.99) * 1000,
    mean_ms: hv.count ? (hv.sum / hv.count) * 1000 : null,
    method: 'mpc_vote_duration_seconds (one node: proposal seen → its signed vote written), Δ over the sequential sends, all nodes',
  })

  // Concurrency (taproot so it stays quick): 1, 4, 16 sends at once.
  const concurrency = []
  const levels = [1, 4, 16]
  await b.fund('taproot', Array(levels.reduce((x, y) => x + y, 0)).fill(S))
  let bestRoundsPerMin = null
  for (const c of levels) {
    const t0 = now()
    const rs = await Promise.all(Array.from({ length: c }, () => b.send('taproot', 10_000)))
    const wall = now() - t0
    const vr = rs.map((r) => votingRound(r.tx)).filter(Boolean)
    const span = vr.length ? Math.max(...vr.map((v) => v.end)) - Math.min(...vr.map((v) => v.start)) : null
    const roundsPerMin = span ? (vr.length / span) * 60_000 : null
    if (c > 1 && roundsPerMin && (bestRoundsPerMin === null || roundsPerMin > bestRoundsPerMin)) bestRoundsPerMin = roundsPerMin
    for (const v of vr) rounds.push(v.ms)
    const s = stats(rs.map((r) => r.ms))
    const retried = rs.reduce((x, r) => x + r.retries, 0)
    if (retried)
      note(
        `concurrency ${c}: POST /transactions answered 409 CONFLICT (coins taken by another send) ${retried} time(s); the client retried, and the latency counts from its first attempt`,
      )
    concurrency.push({ concurrent: c, type: 'taproot', ...s, wall_ms: wall, sends_per_min: (c / wall) * 60_000, voting_rounds_per_min: roundsPerMin, conflict_retries: retried })
    log(`concurrency ${c}: p50 ${fmt(s.p50_ms)} ms, p99 ${fmt(s.p99_ms)} ms, ${fmt((c / wall) * 60_000)} sends/min`)
  }
  await b.mine()
  add('voting round (proposal → 4 signed votes)', {
    ...stats(rounds),
    throughput_per_min: bestRoundsPerMin,
    method:
      "fourth approving vote's votedAt − the transaction's createdAt, over every send of the run; throughput: the best of the concurrent batches (4 and 16 sends at once): its rounds ÷ (last fourth vote − first proposal)",
  })

  // Inputs per transaction (taproot): 1, 4 (and 16 in full mode).
  const inputs = []
  const ks = QUICK ? [1, 4] : [1, 4, 16]
  {
    // Sweep what the taproot wallet holds, so the fresh coins are the only ones worth selecting.
    const w = await b.wallet('taproot')
    if (w.utxos > 0) {
      const total = w.confirmedSats + w.unconfirmedSats - (w.reservedSats ?? 0)
      try {
        await b.send('taproot', total - (60 * w.utxos + 200))
        await b.mine()
      } catch (e) {
        note(`inputs: sweeping the taproot wallet failed (${e.message}); input counts below are as observed`)
      }
    }
  }
  const SI = 100_000
  for (const k of ks) {
    await b.fund('taproot', Array(k).fill(SI))
    const mA = await b.scrape()
    const r = await b.send('taproot', (k - 1) * SI + SI / 2)
    const mB = await b.scrape()
    await b.mine()
    const h = histogramDelta(mA, mB, 'mpc_signature_duration_seconds', { mode: 'frost' })
    inputs.push({
      inputs_requested: k,
      inputs: r.tx.inputs.length,
      type: 'taproot',
      send_ms: r.ms,
      sign_per_signature_ms: h.count ? (h.sum / h.count) * 1000 : null,
      sign_per_tx_ms: h.count ? (h.sum / h.count) * 1000 * r.tx.inputs.length : null,
    })
    log(`inputs ${r.tx.inputs.length}: send ${fmt(r.ms)} ms`)
  }

  // Full signing (no presignature), last because it costs seconds per signature: a new coin at
  // a path without a presignature. Quick mode runs it only if the 2-minute budget allows.
  const perPresig = presigMs / Math.max(made, 1)
  if (QUICK && elapsed() + perPresig * 1.5 + 8_000 > BUDGET_MS) {
    note(
      `segwit full signing skipped in quick mode: about ${(perPresig / 1000).toFixed(0)} s per signature after ${(elapsed() / 1000).toFixed(0)} s would break the 2-minute budget (\`npm run bench\` measures it)`,
    )
  } else {
    // The next receive address has a presignature ahead of need (lookahead): skip it.
    await b.api.address('segwit')
    await b.fund('segwit', Array(nFull).fill(S * 3))
    const mF0 = await b.scrape()
    for (let i = 0; i < nFull; i++) {
      // Bigger than any presigned coin: the new (uncovered) coin is spent, so signing is full.
      const r = await b.send('segwit', S * 2)
      if (r.tx.signingMode !== 'full') note(`segwit send ${r.tx.id} meant for full signing used mode ${r.tx.signingMode}`)
      else sends.segwit_full.push(r.ms)
    }
    const mF1 = await b.scrape()
    await b.mine()
    add('send → broadcast, segwit, full signing', sendRow(sends.segwit_full, { method: 'POST /transactions → state broadcast; a coin without presignature' }))
    add('sign ecdsa, full (per signature)', sigRow('full', mF0, mF1))
  }

  memory.after = b.rss()

  // Full mode: DKG (new keys, last so that the wallets above keep their keys) and aux info.
  if (!QUICK) {
    for (const protocol of ['schnorr', 'ecdsa']) {
      const samples = []
      for (let i = 0; i < 2; i++) {
        const t0 = now()
        let k = await b.api.createKey({ protocol }, 600_000)
        while (k.status === 'pending') {
          await sleep(50)
          k = (await b.api.listKeys()).keys.find((x) => x.id === k.id) ?? k
        }
        if (k.status !== 'active') throw new Error(`DKG ${protocol} ended ${k.status}: ${k.error}`)
        samples.push(now() - t0)
      }
      add(`dkg ${protocol} (POST /keys)`, {
        ...stats(samples),
        throughput_per_min: 60_000 / stats(samples).mean_ms,
        method: 'POST /api/v1/keys → key active (GET /keys every 50 ms); ECDSA reuses the aux info already done',
      })
    }
  }
  if (!QUICK) {
    const aux = auxFromLogs(devnet.logs)
    if (aux.length)
      add('aux info (from node logs)', { ...stats(aux), throughput_per_min: null, method: "'aux info … done in X s' lines of the nodes' logs (not rerun: it costs minutes)" })
    else note('aux info: no "aux info … done" line in the node logs; not rerun (it costs minutes)')
  } else {
    note('aux info, DKG ECDSA and DKG Schnorr: full mode only (`npm run bench`); aux info is read from the node logs, not rerun')
  }

  // Bare engine and peers.
  const bare = engineBare()
  let peer = null
  let peerEcdsa = null
  if (flag('--no-peer')) note('peer: skipped (--no-peer)')
  else {
    try {
      peer = await runPeer({ quick: QUICK })
      log(`peer ${peer.library} ${peer.version}: frost sign p50 ${fmt(peer.operations[1].p50_ms)} ms, dkg p50 ${fmt(peer.operations[0].p50_ms)} ms`)
    } catch (e) {
      note(`peer @noble/curves FROST failed: ${e.message}`)
    }
    // The threshold-ECDSA peer (DKLs23, WASM) is separate so that one peer failing keeps the other.
    try {
      peerEcdsa = await runEcdsaPeer({ quick: QUICK })
      const p50 = (name) => fmt(peerEcdsa.operations.find((o) => o.name === name).p50_ms)
      log(
        `peer ${peerEcdsa.library} ${peerEcdsa.version}: ecdsa sign with presignature p50 ${p50('ecdsa sign with presignature')} ms, presignature p50 ${p50('ecdsa presignature')} ms, keygen p50 ${p50('ecdsa keygen')} ms; ${peerEcdsa.signatures_verified} signatures verified`,
      )
    } catch (e) {
      note(e.code === 'PEER_NOT_INSTALLED' ? `ECDSA peer skipped: ${e.message}` : `peer DKLs23 ECDSA failed: ${e.message}`)
    }
  }
  const peers = [peer, peerEcdsa].filter(Boolean)
  for (const o of ops) {
    const t = TARGETS[o.name]
    if (t) {
      o.target = t.text
      o.met = o.p50_ms === null || o.p50_ms === undefined ? null : t.ok(o)
    }
    const bo = bare?.doc.operations.find((x) => x.name === BARE_OF[o.name])
    if (bo && o.p50_ms) {
      o.bare_op = bo.name
      o.cluster_over_bare = o.p50_ms / bo.p50_ms
    }
    const pp = peers.find((p) => p.operations.some((x) => x.name === PEER_OF[o.name]))
    const po = pp?.operations.find((x) => x.name === PEER_OF[o.name])
    if (po && o.p50_ms) {
      o.peer_op = `${pp.library} ${po.name}`
      o.over_peer = o.p50_ms / po.p50_ms
    }
  }

  const loadEnd = loadAverage()
  const doc = {
    kind: 'devnet',
    mode: MODE,
    machine,
    load_average: { start: loadStart, end: loadEnd },
    duration_s: +(elapsed() / 1000).toFixed(1),
    devnet: {
      source: devnet.source,
      started_by_bench: devnet.started,
      start_s: devnetStartS,
      nodes: devnet.nodes.length,
      chain_url: devnet.chainUrl,
      presignature_autofill_running_at_start: presigAtStart.generating > 0,
    },
    method: [
      'Five node processes, three etcd members, PostgreSQL and the regtest chain of `threshold-wallet devnet up`, all on this machine; requests go to node 1 through @tw/api.',
      'Warm-up: one taproot send before anything is timed (a segwit one would be a full signing).',
      'Sends: POST /api/v1/transactions (fee rate 1 sat/vB, one output to an address outside the wallet), then GET /api/v1/transactions/:id every 20 ms until state broadcast; the latency runs from the request to the broadcast as the transaction’s history records it (the leader’s clock, on this same machine), so the polling interval is not counted.',
      'Signing per signature: the nodes’ own histogram mpc_signature_duration_seconds (signing start → signature, quorum check included, divided by the inputs), scraped from every node before and after.',
      'Voting round: the fourth approving signed vote’s votedAt minus the transaction’s createdAt.',
      'Presignatures: POST /api/v1/presignatures for every uncovered coin (quick mode: as many as the fast sends spend, since coin selection prefers presigned coins) plus the next receive and change address, timed until none is generating.',
      'Concurrency and inputs per transaction use Taproot (FROST) so they stay quick; memory is VmRSS of each node process from /proc.',
      'cluster ÷ bare divides the cluster p50 by the bare engine p50 (all parties on one thread, so the bare figure is the CPU time of all parties together); ÷ peer divides by the peer library’s p50 measured the same way.',
      'Figures are taken on whatever else the machine is doing (see load_average); they are not final.',
    ],
    operations: ops,
    etcd_requests_per_send: etcdPerSend,
    send_phases_p50_ms: Object.fromEntries(Object.entries(sendResults).map(([k, rs]) => [k, phases(rs)])),
    scaling: { inputs, concurrency },
    memory_rss_kb: memory,
    bare: bare ? { file: bare.file, reused: bare.reused, mode: bare.doc.mode, bigint_backend: bare.doc.bigint_backend, recorded_unix: bare.doc.recorded_unix } : null,
    peer, // the FROST peer alone, as before; `peers` holds every peer that ran (FROST, ECDSA)
    peers,
    notes,
  }
  const out = join(resultsDir, `devnet-${MODE}.json`)
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n')

  printTable(doc)
  log(`wrote ${out.slice(root.length)} in ${(elapsed() / 1000).toFixed(0)} s`)
  execFileSync(process.execPath, [join(root, 'bench', 'render-performance.mjs')], { stdio: 'inherit' })
  if (devnet.started) log('the devnet started by this run is still up; stop it with `npx threshold-wallet devnet down`')
}

function auxFromLogs(dir) {
  if (!dir || !existsSync(dir)) return []
  const out = []
  for (const f of readdirSync(dir).filter((x) => /^node-\d+\.log$/.test(x))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/aux info \S+ done in ([\d.]+) s/g)) out.push(Number(m[1]) * 1000)
  }
  return out
}

function printTable(doc) {
  const rows = doc.operations.map((o) => [
    o.name,
    String(o.samples ?? ''),
    fmt(o.p50_ms),
    fmt(o.p99_ms),
    o.throughput_per_min === null || o.throughput_per_min === undefined ? '–' : `${fmt(o.throughput_per_min)}/min`,
    o.target ?? '',
    o.met === undefined ? '' : o.met === null ? 'n/a' : o.met ? 'met' : 'MISSED',
    o.cluster_over_bare ? `×${fmt(o.cluster_over_bare)}` : '',
    o.over_peer ? `×${fmt(o.over_peer)}` : '',
  ])
  const head = ['operation', 'n', 'p50 ms', 'p99 ms', 'throughput', 'target', 'met?', 'cluster÷bare', '÷peer']
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r) => r.map((c, i) => (i === 0 || i === 5 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
  console.log(
    `\nthreshold-wallet cluster benchmark (${doc.mode}), ${doc.machine.cores} × ${doc.machine.cpu_model}, load ${doc.load_average.start.one} → ${doc.load_average.end.one}`,
  )
  console.log(line(head))
  for (const r of rows) console.log(line(r))
  for (const [k, ph] of Object.entries(doc.send_phases_p50_ms))
    console.log(
      `\nwhere a send's time goes (${k}, p50 ms):`,
      Object.entries(ph)
        .map(([n, v]) => `${n} ${fmt(v)}`)
        .join('; '),
    )
  for (const [k, e] of Object.entries(doc.etcd_requests_per_send ?? {})) {
    if (!e) continue
    const top = (by) =>
      Object.entries(by)
        .slice(0, 6)
        .map(([n, v]) => `${n} ${fmt(v)}`)
        .join(', ')
    console.log(
      `\netcd round trips per send (${k}, ${e.sends} sends): cluster ${fmt(e.cluster_total)}; leader (node ${e.leader_node}) ${fmt(e.leader.total)}: ${top(e.leader.by)}; a follower ${fmt(e.follower_mean.total)}: ${top(e.follower_mean.by)} (this client's ${fmt(e.client_polls_excluded?.per_send)} polls a send, ${fmt(e.client_polls_excluded?.round_trips_each)} round trips each, left out)`,
    )
  }
  console.log('\ninputs per tx (taproot):', doc.scaling.inputs.map((i) => `${i.inputs}: ${fmt(i.send_ms)} ms`).join(', '))
  console.log('concurrent sends (taproot):', doc.scaling.concurrency.map((c) => `${c.concurrent}: p50 ${fmt(c.p50_ms)} ms, ${fmt(c.sends_per_min)}/min`).join('; '))
  const mem = (m) =>
    Object.entries(m ?? {})
      .map(([k, v]) => `${k} ${v === null ? '–' : (v / 1024).toFixed(0) + ' MiB'}`)
      .join(', ')
  console.log(`RSS before: ${mem(doc.memory_rss_kb.before)}\nRSS after:  ${mem(doc.memory_rss_kb.after)}`)
  for (const p of doc.peers) console.log(`peer: ${p.library} ${p.version} (${p.licence}): ${p.operations.map((o) => `${o.name} p50 ${fmt(o.p50_ms)} ms`).join(', ')}`)
  for (const n of doc.notes) console.log(`note: ${n}`)
}

const entry = HISTORY ? () => import('./history.mjs').then((m) => m.runHistory({ root, resultsDir, devnetDir, argv, opt, log, note, notes, findDevnet, Bench })) : main
entry().catch((e) => {
  console.error(`bench: failed: ${e instanceof ApiError ? `${e.code} ${e.message}` : (e.stack ?? e)}`)
  process.exit(1)
})
