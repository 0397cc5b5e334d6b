// The soak (issue 14 item 7): `npm run bench -- --history [N]` (or `npm run bench:soak`).
//
// On the five-node devnet, grows the wallet's history to N finished sends in steps and, at each
// step, measures with real sends and real requests whether anything grows with history:
// send → broadcast latency (Taproot), etcd's database size (its own metric, before and after a
// compaction), the keys under /tw/, each node's RSS and heap (/metrics), GET
// /api/v1/transactions page times, and the time to page through /tw/tx/ (what the worker's
// full scan and the leader's retention read). Then it watches the retention prune etcd.
//
// The history is SYNTHETIC, and labelled so in the results: 10 000 real sends at ~0.6 s each
// (plus mining and confirmations) would take hours on this machine. Each synthetic send is a
// clone of a real send of this same run (one Taproot, one SegWit with a presignature), taken
// from etcd the moment it confirmed: every key the product stores for a finished send (the
// record, its signing attempt, the five signed votes, the signers' signed results, the
// Idempotency-Key record, the used presignature and its results) under a fresh id and
// timestamps from the past year, written with the product's own code (apps/node/dist:
// WalletKeys, EtcdRepository as each node's etcd user, NodeIdentityService.sign with each
// node's own identity key so every vote, attempt and result verifies, TxStore.mirror for each
// node's PostgreSQL mirror row, and the voting round and vote rows the worker records).
//
// Options: --history [N=10000] --steps K (default 4) --sends S (real Taproot sends measured per
// step, default 8) --drain-min M (minutes watching the retention after the last step, default
// 10) --dir DIR (default $TMPDIR/tw-bench-history: a devnet of its own, started with
// TW_TX_RETENTION_S=60 so that the retention's work shows within the run; --retention-s to change).
import { createHash, randomUUID } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import https from 'node:https'
import { join } from 'node:path'
import { fmt, loadAverage, machineInfo, now, parseProm, sleep, stats } from './lib.mjs'

const DAY_MS = 24 * 3600_000

/**
 * @param {object} ctx what run.mjs shares: root, resultsDir, devnetDir, argv, opt, log, note,
 *   notes, findDevnet, Bench, ApiError
 */
export async function runHistory(ctx) {
  const { root, resultsDir, devnetDir, argv, opt, log, note, notes, findDevnet, Bench } = ctx
  const require = createRequire(join(root, 'apps', 'node', 'package.json'))
  const dist = (p) => {
    const f = join(root, 'apps', 'node', 'dist', p)
    if (!existsSync(f)) throw new Error(`${f} is missing; build the workspace first (npx tsc -b)`)
    return require(f)
  }
  const { WalletKeys, TERMINAL_STATES } = dist('wallet/wallet.types.js')
  const { EtcdRepository } = dist('cluster/etcd.repository.js')
  const { DatabaseRepository } = dist('persistence/database.repository.js')
  const { NodeIdentityService } = dist('byzantine/identity.service.js')
  const { TxStore, mirrorRowId } = dist('wallet/tx-store.js')
  const { attemptBody } = dist('wallet/leader-decision.js')
  const { resultBody } = dist('wallet/signing-check.js')
  const { decisionBody } = require('@tw/api')
  const { proposerStatement } = dist('wallet/policy.js')
  const { canonicalJson } = dist('common/canonical-json.js')
  const { encodeCursor } = dist('wallet/history-cursor.js')
  const { VoteEntity, VotingRoundEntity } = dist('persistence/entities/index.js')
  const { Etcd3 } = require('etcd3')
  const { DevnetPaths } = require(join(root, 'apps', 'cli', 'dist', 'shared', 'devnet', 'state.js'))

  // ---------------------------------------------------------------- options
  const i = argv.indexOf('--history')
  const N = /^\d+$/.test(argv[i + 1] ?? '') ? Number(argv[i + 1]) : 10_000
  const STEPS = Number(opt('--steps') ?? 4)
  const SENDS = Number(opt('--sends') ?? 8)
  const DRAIN_MIN = Number(opt('--drain-min') ?? 10)
  if (!(N >= 0 && STEPS >= 1 && SENDS >= 2 && DRAIN_MIN >= 0)) throw new Error('--history N (≥ 0), --steps (≥ 1), --sends (≥ 2), --drain-min (≥ 0)')
  const t0 = now()
  const machine = machineInfo(root)
  const loadStart = loadAverage()
  log(`history run: N = ${N} in ${STEPS} step(s), ${SENDS} Taproot sends measured per step; load ${loadStart.one}`)

  const devnet = await findDevnet()
  if (devnet.started) note(`the devnet was started by this run (dir ${devnetDir})`)
  const runStart = now()
  const b = new Bench(devnet)
  for (const a of b.apis) if ((await a.health('ready')).status !== 'ok') throw new Error('a node is not ready')

  // ---------------------------------------------------------------- the product's writers, per node
  const paths = new DevnetPaths(devnetDir)
  const envOf = (pid) => {
    // Only the settings the writers need (the node's environment also holds its passphrase: not read).
    const want = ['TW_DATABASE_URL', 'TW_TX_RETENTION_S', 'TW_ETCD_ENDPOINTS', 'TW_ETCD_CA', 'TW_ETCD_CERT', 'TW_ETCD_KEY', 'TW_NODE_KEY', 'TW_NODE_CERT', 'TW_CLUSTER_SIZE']
    const out = {}
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const k = kv.slice(0, kv.indexOf('='))
      if (want.includes(k)) out[k] = kv.slice(k.length + 1)
    }
    return out
  }
  if (devnet.nodes.some((n) => !n.pid)) throw new Error('history mode needs a devnet started from a directory (--dir), not --node: it reads each node process settings')
  // One PostgreSQL connection pool for the five writers (the devnet's nodes share one database).
  const db = new DatabaseRepository({ database: { url: envOf(devnet.nodes[0].pid).TW_DATABASE_URL } })
  const nodes = devnet.nodes.map((n) => {
    const env = envOf(n.pid)
    const config = {
      nodeId: n.id,
      clusterSize: Number(env.TW_CLUSTER_SIZE ?? 5),
      txRetentionS: Number(env.TW_TX_RETENTION_S ?? 86_400),
      database: { url: env.TW_DATABASE_URL },
      tls: { nodeKeyPath: env.TW_NODE_KEY, nodeCertPath: env.TW_NODE_CERT },
      chain: { network: 'regtest' },
    }
    const etcd = new EtcdRepository({
      endpoints: env.TW_ETCD_ENDPOINTS.split(','),
      leaseTtlSeconds: 10,
      callTimeoutMs: 30_000,
      tls: { caPath: env.TW_ETCD_CA, certPath: env.TW_ETCD_CERT, keyPath: env.TW_ETCD_KEY },
    })
    const identity = new NodeIdentityService(config, etcd)
    const store = new TxStore(config, etcd, db, identity, { isStarted: false })
    return { id: n.id, pid: n.pid, env, config, etcd, db, identity, store }
  })
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const retentionS = nodes[0].config.txRetentionS
  if (!nodes[0].env.TW_TX_RETENTION_S) note('TW_TX_RETENTION_S is not set on the nodes: the default retention (86 400 s) applies, so the retention prunes nothing within this run')
  if (!(await db.start(30_000))) throw new Error("the devnet's database is unreachable")
  const endpoints = nodes[0].env.TW_ETCD_ENDPOINTS.split(',')
  const rootTls = paths.etcdClient('root')
  const rootCreds = { rootCertificate: readFileSync(rootTls.caPath), certChain: readFileSync(rootTls.certPath), privateKey: readFileSync(rootTls.keyPath) }
  const etcdRoot = new Etcd3({ hosts: endpoints, credentials: rootCreds, defaultCallOptions: () => ({ deadline: Date.now() + 60_000 }) })

  // ---------------------------------------------------------------- measurements
  const etcdMetrics = async () =>
    Promise.all(
      endpoints.map(
        (url) =>
          new Promise((ok) => {
            const req = https.get(`${url}/metrics`, { ca: rootCreds.rootCertificate, cert: rootCreds.certChain, key: rootCreds.privateKey, timeout: 10_000 }, (res) => {
              let text = ''
              res.setEncoding('utf8')
              res.on('data', (d) => (text += d))
              res.on('end', () => {
                const m = parseProm(text)
                const v = (name) => m.find((s) => s.name === name)?.value ?? null
                ok({
                  member: url,
                  db_total_bytes: v('etcd_mvcc_db_total_size_in_bytes'),
                  db_in_use_bytes: v('etcd_mvcc_db_total_size_in_use_in_bytes'),
                  keys_total: v('etcd_debugging_mvcc_keys_total'),
                })
              })
            })
            req.on('timeout', () => req.destroy(new Error('timeout')))
            req.on('error', () => ok({ member: url, db_total_bytes: null, db_in_use_bytes: null, keys_total: null }))
          }),
      ),
    )
  const PREFIXES = {
    tx: WalletKeys.txs,
    attempts: WalletKeys.attemptsAll,
    partitions: WalletKeys.partitions,
    idempotency: '/tw/idempotency/',
    presig: WalletKeys.presigs,
    all: '/tw/',
  }
  const keyCounts = async () => Object.fromEntries(await Promise.all(Object.entries(PREFIXES).map(async ([k, p]) => [k, Number(await etcdRoot.getAll().prefix(p).count())])))
  const revision = async () => String((await etcdRoot.get('/tw/bench-history-none').exec()).header.revision)
  /** Compacts etcd at its current revision (what the hourly auto-compaction does) and waits until every member reports a smaller or equal in-use size. */
  const compact = async () => {
    const rev = await revision()
    await etcdRoot.kv.compact({ revision: rev, physical: true })
    return rev
  }
  const nodeMem = async () => {
    const scrapes = await b.scrape()
    return Object.fromEntries(
      scrapes.map((s, k) => {
        const v = (name) => s.find((x) => x.name === name)?.value ?? null
        const stepErrors = s.filter((x) => x.name === 'mpc_step_errors_total').reduce((a, x) => a + x.value, 0)
        return [`node-${devnet.nodes[k].id}`, { rss_bytes: v('process_resident_memory_bytes'), heap_used_bytes: v('nodejs_heap_size_used_bytes'), step_errors_total: stepErrors }]
      }),
    )
  }
  const pgCounts = async () =>
    nodes[0].db.read(async (em) => {
      const one = async (sql) => Number((await em.query(sql))[0].n)
      return {
        transactions_rows: await one('SELECT count(*) AS n FROM transactions'),
        voting_rounds_rows: await one('SELECT count(*) AS n FROM voting_rounds'),
        votes_rows: await one('SELECT count(*) AS n FROM votes'),
        database_bytes: await one('SELECT pg_database_size(current_database()) AS n'),
      }
    })
  /** Pages /tw/tx/ the way the worker's full scan and the retention do (TxStore.pages: 200 a page), timed. */
  const fullScan = async () => {
    const t = now()
    let records = 0
    let finishedPastRetention = 0
    for await (const page of nodes[0].store.pages()) {
      for (const e of page) {
        records++
        if (TERMINAL_STATES.includes(e.value.state) && Date.now() - Date.parse(e.value.updatedAt) > retentionS * 1000) finishedPastRetention++
      }
    }
    return { ms: now() - t, records, finished_past_retention: finishedPastRetention }
  }
  const pageTimes = async (midCursor) => {
    const kinds = {
      'first page (limit 50)': {},
      'type=segwit, state=confirmed (limit 50)': { type: 'segwit', state: 'confirmed' },
      ...(midCursor ? { 'page in the middle of history (cursor)': { cursor: midCursor } } : {}),
    }
    const out = {}
    for (const [k, q] of Object.entries(kinds)) {
      const xs = []
      let rows = 0
      for (let r = 0; r < 5; r++) {
        const t = now()
        const page = await b.unthrottled(() => b.api.transactions({ limit: 50, ...q }))
        xs.push(now() - t)
        rows = page.transactions.length
      }
      out[k] = { ...stats(xs), rows }
    }
    return out
  }
  /** "pruned from etcd: X transaction(s) …" lines of the node logs since the run began. */
  const logOffsets = new Map()
  const prunedSoFar = { transactions: 0, idempotency: 0, presignatures: 0, partition: 0 }
  const readPruned = () => {
    if (!devnet.logs || !existsSync(devnet.logs)) return prunedSoFar
    for (const f of readdirSync(devnet.logs).filter((x) => /^node-\d+\.log$/.test(x))) {
      const text = readFileSync(join(devnet.logs, f), 'utf8')
      // A log first seen now: counted from its current end (the run's start), unless it is new.
      const from = logOffsets.get(f) ?? (started ? text.length : 0)
      for (const m of text.slice(from).matchAll(/pruned from etcd: (\d+) transaction\(s\), (\d+) idempotency record\(s\), (\d+) presignature record\(s\), (\d+) key\(s\)/g)) {
        prunedSoFar.transactions += Number(m[1])
        prunedSoFar.idempotency += Number(m[2])
        prunedSoFar.presignatures += Number(m[3])
        prunedSoFar.partition += Number(m[4])
      }
      logOffsets.set(f, text.length)
    }
    return { ...prunedSoFar }
  }
  let started = true
  readPruned() // marks where this run starts in the logs
  started = false

  // ---------------------------------------------------------------- funding, templates
  const S = 200_000
  log(`funding ${STEPS + 1} × ${SENDS} + 2 Taproot and 1 SegWit coins`)
  await b.fund('taproot', Array((STEPS + 1) * SENDS + 2).fill(S))
  await b.fund('segwit', [S])
  log('warm-up: one taproot send')
  await b.send('taproot', 10_000)
  await b.mine()

  const waitConfirmed = async (id) => {
    const deadline = Date.now() + 120_000
    for (;;) {
      const tx = await b.unthrottled(() => b.api.transaction(id))
      if (tx.state === 'confirmed') return tx
      if (['failed', 'rejected', 'expired'].includes(tx.state)) throw new Error(`template send ${id} ${tx.state}`)
      if (Date.now() > deadline) throw new Error(`template send ${id} not confirmed after 120 s (state ${tx.state})`)
      await b.mine()
      await sleep(500)
    }
  }
  /** Every etcd key of a finished send, read the moment it confirmed (before the retention prunes it). */
  const capture = async (id) => {
    const etcd = nodes[0].etcd
    const tx = (await etcd.get(WalletKeys.tx(id)))?.value
    if (!tx) throw new Error(`template ${id}: its record already left etcd (retention ${retentionS} s)`)
    const attempts = (await etcd.getPrefix(`${WalletKeys.attemptsAll}${id}/`)).map((e) => e.value)
    const votes = (await Promise.all(nodes.map((n) => etcd.get(WalletKeys.vote(id, n.id))))).flatMap((e) => (e ? [e.value] : []))
    const results = (await Promise.all(nodes.map((n) => etcd.getPrefix(`${WalletKeys.partitions}${n.id}/results/${id}/`)))).flat().map((e) => e.value)
    let idem = null
    for await (const page of etcd.getPrefixPaged('/tw/idempotency/')) for (const e of page) if (e.value?.txId === id) idem = e.value
    const presigIds = [...new Set(attempts.flatMap((a) => a.presignatures ?? []).filter(Boolean))]
    const presigs = (await Promise.all(presigIds.map((p) => etcd.get(WalletKeys.presig(p))))).flatMap((e) => (e ? [e.value] : []))
    const presigResults = (
      await Promise.all(presigIds.flatMap((p) => nodes.map(async (n) => ({ presigId: p, nodeId: n.id, e: await etcd.get(WalletKeys.presigResult(p, n.id)) }))))
    ).flatMap(({ presigId, nodeId, e }) => (e ? [{ presigId, nodeId, value: e.value }] : []))
    return { tx, attempts, votes, results, idem, presigs, presigResults }
  }
  log('template 1: a Taproot send, confirmed')
  const tapSent = await b.send('taproot', 10_000)
  await waitConfirmed(tapSent.tx.id)
  const templates = [await capture(tapSent.tx.id)]
  log('template 2: a SegWit send with a presignature, confirmed')
  {
    const st0 = await b.api.presignatureStatus()
    await b.api.generatePresignatures({ count: Math.max(1, st0.coverage.utxos - st0.coverage.covered) + 2 })
    const deadline = Date.now() + 10 * 60_000
    while ((await b.api.presignatureStatus()).generating > 0) {
      if (Date.now() > deadline) throw new Error('presignatures not ready after 10 min')
      await sleep(200)
    }
    const r = await b.send('segwit', 10_000)
    if (r.tx.signingMode !== 'presignature') note(`the SegWit template used signing mode ${r.tx.signingMode}, not a presignature`)
    await waitConfirmed(r.tx.id)
    templates.push(await capture(r.tx.id))
  }
  const perSend = (t) => 1 + t.attempts.length + t.votes.length + t.results.length + (t.idem ? 1 : 0) + t.presigs.length + t.presigResults.length
  const templateSizes = templates.map((t) => ({
    type: t.tx.type,
    signing_mode: t.tx.signingMode,
    etcd_keys: perSend(t),
    etcd_value_bytes:
      JSON.stringify(t.tx).length +
      [...t.attempts, ...t.votes, ...t.results, ...t.presigs, ...t.presigResults.map((r) => r.value)].reduce((x, v) => x + JSON.stringify(v).length, 0) +
      (t.idem ? JSON.stringify(t.idem).length : 0),
  }))
  log(`templates: ${templateSizes.map((t) => `${t.type} ${t.etcd_keys} keys, ${t.etcd_value_bytes} B`).join('; ')}`)

  // ---------------------------------------------------------------- the synthetic history
  const span = 365 * DAY_MS
  const historyEnd = Date.now() - 2 * retentionS * 1000 - 3600_000 // all of it older than the retention
  const historyStart = historyEnd - span
  let midCursor = null

  /** Clone `t` as synthetic send number `k` of N: fresh ids, timestamps `k/N` of the way through the past year, everything re-signed. */
  const clone = (t, k) => {
    const at = historyStart + Math.floor((k / Math.max(N, 1)) * span)
    const base = Date.parse(t.tx.createdAt)
    const shift = (iso) => new Date(at + (Date.parse(iso) - base)).toISOString()
    const id = randomUUID()
    const presigMap = new Map(t.presigs.map((p) => [p.id, randomUUID()]))
    const proposer = byId.get(t.tx.proposedBy) ?? nodes[0]
    const tx = {
      ...t.tx,
      id,
      // Inputs, unsigned and signed transaction as the template's (a PSBT still builds from them;
      // no coin lock names them once the template confirmed).
      createdAt: shift(t.tx.createdAt),
      updatedAt: shift(t.tx.updatedAt),
      history: t.tx.history.map((h) => ({ ...h, at: shift(h.at) })),
    }
    if (tx.proposerSignature) tx.proposerSignature = proposer.identity.sign(proposerStatement(tx.proposalHash, tx.proposedBy))
    const votes = t.votes.map((v) => {
      const payload = { ...v.payload, txId: id, votedAt: shift(v.payload.votedAt) }
      return { payload, signature: byId.get(payload.nodeId).identity.sign(payload) }
    })
    const voteOf = new Map(votes.map((v) => [v.payload.nodeId, v]))
    // The leader's signed decision on the final state, about this clone (followers refuse a decision about another record).
    if (t.tx.decision) {
      const d = t.tx.decision
      const body = { ...decisionBody(d), txId: id, decidedAt: shift(d.decidedAt), votes: (d.votes ?? []).map((v) => voteOf.get(v.payload.nodeId) ?? v) }
      tx.decision = { ...body, signature: (byId.get(d.leader) ?? nodes[0]).identity.sign(decisionBody(body)) }
    }
    const attempts = t.attempts.map((a) => {
      const body = {
        ...attemptBody(a),
        txId: id,
        createdAt: shift(a.createdAt),
        presignatures: (a.presignatures ?? []).map((p) => (p ? (presigMap.get(p) ?? p) : p)),
        ...(a.approvals ? { approvals: a.approvals.map((v) => voteOf.get(v.payload.nodeId) ?? v) } : {}),
      }
      const signer = byId.get(a.leader) ?? nodes[0]
      return { ...body, signature: a.signature ? signer.identity.sign(attemptBody(body)) : undefined }
    })
    const results = t.results.map((r) => {
      const body = { ...resultBody(r), txId: id, reportedAt: shift(r.reportedAt) }
      return r.signature ? { ...body, signature: byId.get(r.nodeId).identity.sign(resultBody(body)) } : body
    })
    const idemKey = `soak-${id}`
    const idem = t.idem ? { ...t.idem, txId: id } : null
    const presigs = t.presigs.map((p) => ({ ...p, id: presigMap.get(p.id), txId: id, createdAt: shift(p.createdAt) }))
    const presigResults = t.presigResults.map((r) => ({ ...r, presigId: presigMap.get(r.presigId) ?? randomUUID() }))
    return { tx, votes, attempts, results, idemKey, idem, presigs, presigResults }
  }

  /** etcd puts, each under the etcd user allowed to write it (a node's partition only by that node), in transactions of ≤ 100 create-if-absent puts. */
  const putAll = async (byNode) => {
    await Promise.all(
      [...byNode].map(async ([nodeId, puts]) => {
        const etcd = byId.get(nodeId).etcd
        for (let j = 0; j < puts.length; j += 100) {
          const part = puts.slice(j, j + 100)
          // Create-if-absent (every key is new), as the product writes votes and results.
          if (!(await etcd.atomic({ absent: part.map(([k]) => k), puts: part }))) throw new Error('an etcd transaction of the synthetic history did not apply (a key existed)')
        }
      }),
    )
  }

  const writeBatch = async (from, to) => {
    const clones = []
    for (let k = from; k < to; k++) clones.push(clone(templates[k % templates.length], k))
    // etcd: shared keys by node 1 (any node may write them), partition keys by their node.
    const byNode = new Map(nodes.map((n) => [n.id, []]))
    for (const c of clones) {
      const shared = byNode.get(nodes[0].id)
      shared.push([WalletKeys.tx(c.tx.id), c.tx])
      for (const a of c.attempts) shared.push([WalletKeys.attempt(c.tx.id, a.attempt), a])
      if (c.idem) shared.push([WalletKeys.idempotency(createHash('sha256').update(c.idemKey).digest('hex')), c.idem])
      for (const p of c.presigs) shared.push([WalletKeys.presig(p.id), p])
      for (const v of c.votes) byNode.get(v.payload.nodeId).push([WalletKeys.vote(c.tx.id, v.payload.nodeId), v])
      for (const r of c.results) byNode.get(r.nodeId).push([WalletKeys.result(c.tx.id, r.attempt ?? c.tx.attempt, r.nodeId), r])
      for (const r of c.presigResults) byNode.get(r.nodeId).push([WalletKeys.presigResult(r.presigId, r.nodeId), r.value])
    }
    const te = now()
    await putAll(byNode)
    const etcdMs = now() - te
    // PostgreSQL: each node's mirror row (TxStore.mirror, the node's own writer; the proposer's
    // row carries the Idempotency-Key), then its voting round and its own vote (as the worker records them).
    const tp = now()
    await Promise.all(
      nodes.map(async (n) => {
        for (let j = 0; j < clones.length; j += 200) {
          const part = clones.slice(j, j + 200)
          await Promise.all(part.map((c) => n.store.mirror(c.tx, c.tx.proposedBy === n.id ? c.idemKey : null, c.tx.proposedBy === n.id ? (c.idem?.bodyHash ?? null) : null)))
          const mine = part.flatMap((c) => {
            const v = c.votes.find((x) => x.payload.nodeId === n.id)
            return v ? [{ c, v }] : []
          })
          if (!mine.length) continue
          await n.db.transaction(async (em) => {
            await em
              .createQueryBuilder()
              .insert()
              .into(VotingRoundEntity)
              .values(
                mine.map(({ c }) => ({
                  id: mirrorRowId(`${c.tx.id}/round/1`, n.id),
                  transactionId: mirrorRowId(c.tx.id, n.id),
                  round: 1,
                  proposerNodeId: c.tx.proposedBy,
                  status: 'open',
                })),
              )
              .orIgnore()
              .execute()
            await em
              .createQueryBuilder()
              .insert()
              .into(VoteEntity)
              .values(
                mine.map(({ c, v }) => ({
                  votingRoundId: mirrorRowId(`${c.tx.id}/round/1`, n.id),
                  voterNodeId: n.id,
                  approve: v.payload.approve,
                  reason: v.payload.reason,
                  payload: canonicalJson(v.payload),
                  signature: v.signature,
                })),
              )
              .orIgnore()
              .execute()
          })
        }
      }),
    )
    const pgMs = now() - tp
    if (from <= N / 2 && N / 2 < to) {
      const mid = clones[Math.floor(N / 2) - from]
      midCursor = encodeCursor(new Date(mid.tx.createdAt), mid.tx.id)
    }
    return { etcd_write_ms: etcdMs, pg_write_ms: pgMs, sends: clones.length }
  }

  // ---------------------------------------------------------------- the steps
  const stepsOut = []
  const measure = async (history, wrote) => {
    // Let the nodes take in what was written (their watches fire for every key) before timing sends.
    await sleep(20_000)
    const load = loadAverage()
    const sends = []
    for (let s = 0; s < SENDS; s++) sends.push((await b.send('taproot', 10_000)).ms)
    await b.mine()
    const memory = await nodeMem()
    const pages = await pageTimes(midCursor)
    const scan = await fullScan()
    const keys = await keyCounts()
    const before = await etcdMetrics()
    const rev = await compact()
    // The in-use figure is updated once the compaction finished on each member.
    await sleep(5000)
    const after = await etcdMetrics()
    const pg = await pgCounts()
    const pruned = readPruned()
    const row = {
      history_sends: history,
      synthetic_written: wrote,
      load_one: load.one,
      send_ms: stats(sends),
      etcd: { keys, before_compaction: before, compacted_at_revision: rev, after_compaction: after },
      memory,
      transactions_page_ms: pages,
      full_scan: scan,
      postgres: pg,
      pruned_by_retention_so_far: pruned,
      at_s: +((now() - runStart) / 1000).toFixed(0),
    }
    stepsOut.push(row)
    const mb = (x) => (x === null || x === undefined ? '–' : (x / 1024 / 1024).toFixed(1))
    log(
      `history ${history}: send p50 ${fmt(row.send_ms.p50_ms)} ms p99 ${fmt(row.send_ms.p99_ms)} ms; etcd db ${mb(before[0].db_total_bytes)} MiB (in use ${mb(before[0].db_in_use_bytes)} → ${mb(after[0].db_in_use_bytes)} after compaction), /tw/ keys ${keys.all}, /tw/tx/ ${keys.tx}; ` +
        `RSS ${Object.values(memory)
          .map((m) => mb(m.rss_bytes))
          .join(
            '/',
          )} MiB; GET /transactions p50 ${fmt(pages['first page (limit 50)'].p50_ms)} ms; full scan ${fmt(scan.ms)} ms over ${scan.records}; pruned so far ${pruned.transactions} tx`,
    )
    return row
  }

  await measure(0, null)
  const per = Math.ceil(N / STEPS)
  for (let s = 0; s < STEPS && per > 0; s++) {
    const from = s * per
    const to = Math.min(N, from + per)
    if (from >= to) break
    log(`writing synthetic sends ${from}..${to - 1}`)
    const w = await writeBatch(from, to)
    log(`wrote ${w.sends} synthetic sends: etcd ${fmt(w.etcd_write_ms)} ms, PostgreSQL ${fmt(w.pg_write_ms)} ms`)
    await measure(to, w)
  }

  // ---------------------------------------------------------------- the retention at work
  const drain = []
  const drainStart = now()
  log(`watching the retention for up to ${DRAIN_MIN} min (every record of the synthetic history is past TW_TX_RETENTION_S = ${retentionS} s)`)
  for (;;) {
    const keys = await keyCounts()
    const m = await etcdMetrics()
    drain.push({ at_s: +((now() - drainStart) / 1000).toFixed(0), keys, db_in_use_bytes: m[0].db_in_use_bytes, db_total_bytes: m[0].db_total_bytes, pruned: readPruned() })
    log(`drain +${drain.at(-1).at_s} s: /tw/tx/ ${keys.tx}, /tw/n/ ${keys.partitions}, /tw/ ${keys.all}`)
    if (keys.tx <= stepsOut[0].etcd.keys.tx || now() - drainStart >= DRAIN_MIN * 60_000) break
    await sleep(60_000)
  }
  await compact()
  await sleep(5000)
  const finalEtcd = await etcdMetrics()
  const drainMin = (now() - drainStart) / 60_000
  const txDrained = drain[0].keys.tx - drain.at(-1).keys.tx
  const partDrained = drain[0].keys.partitions - drain.at(-1).keys.partitions

  const first = stepsOut[0]
  const last = stepsOut.at(-1)
  const ratio = (a, x) => (a && x ? +(x / a).toFixed(2) : null)
  const summary = {
    history_sends: N,
    send_p50_ratio_last_over_first: ratio(first.send_ms.p50_ms, last.send_ms.p50_ms),
    page_p50_ratio_last_over_first: ratio(first.transactions_page_ms['first page (limit 50)'].p50_ms, last.transactions_page_ms['first page (limit 50)'].p50_ms),
    rss_max_ratio_last_over_first: ratio(Math.max(...Object.values(first.memory).map((m) => m.rss_bytes)), Math.max(...Object.values(last.memory).map((m) => m.rss_bytes))),
    etcd_in_use_after_compaction_first_bytes: first.etcd.after_compaction[0].db_in_use_bytes,
    etcd_in_use_after_compaction_last_bytes: last.etcd.after_compaction[0].db_in_use_bytes,
    etcd_in_use_after_drain_bytes: finalEtcd[0].db_in_use_bytes,
    etcd_total_after_drain_bytes: finalEtcd[0].db_total_bytes,
    retention_tx_pruned_per_min: drainMin > 0 ? +(txDrained / drainMin).toFixed(1) : null,
    retention_partition_keys_pruned_per_min: drainMin > 0 ? +(partDrained / drainMin).toFixed(1) : null,
    // The real sends of the run before the history may leave too: never below 0.
    tx_records_left_in_etcd_past_retention: Math.max(0, drain.at(-1).keys.tx - first.etcd.keys.tx),
  }
  // What the figures say, computed (no verdict typed by hand).
  const findings = []
  const left = summary.tx_records_left_in_etcd_past_retention
  if (left > 0) {
    const rate = summary.retention_tx_pruned_per_min
    findings.push(
      `etcd is not yet back to its size before the history: ${left} transaction records past the retention were still in etcd ${drainMin.toFixed(1)} min after the last step; the retention removed ${rate ?? '–'} transactions a minute` +
        (rate
          ? ` (the backlog needs about ${Math.ceil(left / rate)} min more); a cluster that sends more than that many a minute for longer than the retention would grow etcd without bound`
          : ''),
    )
  } else
    findings.push(`every synthetic transaction record past the retention left etcd (${drain.at(-1).keys.tx} /tw/tx/ keys at the end, ${first.etcd.keys.tx} before the history)`)
  const grew = (what, r, limit) => r !== null && r > limit && findings.push(`${what} grew ×${r} from 0 to ${N} sends of history`)
  grew('send → broadcast p50', summary.send_p50_ratio_last_over_first, 1.5)
  grew('GET /api/v1/transactions p50', summary.page_p50_ratio_last_over_first, 2)
  grew('the largest node RSS', summary.rss_max_ratio_last_over_first, 1.3)
  const scanRatio = ratio(first.full_scan.ms, last.full_scan.ms)
  if (scanRatio && scanRatio > 2)
    findings.push(
      `paging /tw/tx/ (the worker's minutely full scan, the leader's retention) took ×${scanRatio} longer with ${last.full_scan.records} records in etcd than with ${first.full_scan.records}: it follows what etcd holds, so it is bounded only as far as the retention keeps etcd bounded`,
    )
  for (const f of findings) log(`finding: ${f}`)

  const loadEnd = loadAverage()
  const doc = {
    kind: 'devnet-history',
    mode: 'history',
    machine,
    load_average: { start: loadStart, end: loadEnd },
    duration_s: +((now() - t0) / 1000).toFixed(1),
    devnet: {
      source: devnet.source,
      started_by_bench: devnet.started,
      nodes: devnet.nodes.length,
      tx_retention_s: retentionS,
      etcd_flags: 'auto-compaction periodic 1h, quota 2 GiB (devnet defaults)',
    },
    history: { sends: N, steps: STEPS, measured_sends_per_step: SENDS, span_days: 365, synthetic: true, templates: templateSizes },
    method: [
      `SYNTHETIC history: ${N} finished sends cloned from two real sends of this run (a Taproot send and a SegWit send with a presignature), alternately; each clone is every etcd key the product keeps for a finished send (record, signing attempt, five signed votes, the signers' signed results, Idempotency-Key record, used presignature and its results) under fresh ids, dated through the past year (older than the retention), re-signed with each node's identity key (NodeIdentityService.sign) and written as each node's own etcd user; PostgreSQL gets each node's mirror row through TxStore.mirror and its voting round and vote rows. Real sends would take hours (~0.6 s each plus confirmation); the clones are what the product stores, written by its own code.`,
      `At each step: ${SENDS} real Taproot sends (POST /api/v1/transactions → broadcast, from the transaction's own history), after 20 s for the nodes to take in the new keys; RSS and heap from each node's /metrics (process_resident_memory_bytes, nodejs_heap_size_used_bytes); GET /api/v1/transactions five times per query on node 1; the full scan is TxStore.pages() over /tw/tx/ (200 a page, what the worker's minutely full scan and the leader's retention read), timed from the bench (the nodes expose no metric of it).`,
      "etcd size: each member's etcd_mvcc_db_total_size_in_bytes and _in_use_in_bytes from its /metrics, before and after a compaction at the current revision (what the hourly auto-compaction does); member 1 is shown. No defragmentation: the file keeps its size, the in-use figure is the live data.",
      `Retention: the devnet runs with TW_TX_RETENTION_S = ${retentionS}; every synthetic send is past it, so the leader's retention (every minute) should remove them; 'pruned' sums the nodes' "pruned from etcd" log lines since the run began; after the last step the run watches the keys for up to ${DRAIN_MIN} min.`,
    ],
    steps: stepsOut,
    drain,
    final_etcd: finalEtcd,
    summary,
    findings,
    notes,
  }
  const out = join(resultsDir, 'devnet-history.json')
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n')
  printHistoryTable(doc)
  log(`wrote ${out.slice(root.length)} in ${doc.duration_s.toFixed(0)} s`)
  await db.stop()
  for (const n of nodes) await n.etcd.close()
  etcdRoot.close()
}

export function historyRows(doc) {
  const mb = (x) => (x === null || x === undefined ? '–' : (x / 1024 / 1024).toFixed(1))
  return doc.steps.map((s) => ({
    history: String(s.history_sends),
    send_p50: fmt(s.send_ms.p50_ms),
    send_p99: fmt(s.send_ms.p99_ms),
    etcd_keys: String(s.etcd.keys.all),
    tx_keys: String(s.etcd.keys.tx),
    db_total: mb(s.etcd.before_compaction[0].db_total_bytes),
    in_use_before: mb(s.etcd.before_compaction[0].db_in_use_bytes),
    in_use_after: mb(s.etcd.after_compaction[0].db_in_use_bytes),
    rss: Object.values(s.memory)
      .map((m) => mb(m.rss_bytes))
      .join(' / '),
    heap_max: mb(Math.max(...Object.values(s.memory).map((m) => m.heap_used_bytes ?? 0))),
    page: fmt(s.transactions_page_ms['first page (limit 50)'].p50_ms),
    page_filtered: fmt(s.transactions_page_ms['type=segwit, state=confirmed (limit 50)'].p50_ms),
    page_mid: fmt(s.transactions_page_ms['page in the middle of history (cursor)']?.p50_ms),
    scan: `${fmt(s.full_scan.ms)} (${s.full_scan.records})`,
    pg_rows: String(s.postgres.transactions_rows),
    pruned: String(s.pruned_by_retention_so_far.transactions),
    load: String(s.load_one),
  }))
}

export const HISTORY_HEAD = {
  history: 'finished sends',
  send_p50: 'send p50 ms',
  send_p99: 'send p99 ms',
  etcd_keys: 'etcd keys /tw/',
  tx_keys: 'of them /tw/tx/',
  db_total: 'etcd db MiB',
  in_use_before: 'in use MiB',
  in_use_after: 'in use after compaction MiB',
  rss: 'RSS MiB (nodes 1–5)',
  heap_max: 'heap max MiB',
  page: 'GET /transactions ms',
  page_filtered: 'filtered page ms',
  page_mid: 'mid-history page ms',
  scan: 'full scan ms (records)',
  pg_rows: 'PostgreSQL mirror rows',
  pruned: 'tx pruned so far',
  load: 'load (1 min)',
}

function printHistoryTable(doc) {
  const rows = historyRows(doc)
  const cols = Object.keys(HISTORY_HEAD)
  const w = cols.map((c) => Math.max(HISTORY_HEAD[c].length, ...rows.map((r) => r[c].length)))
  const line = (r) => cols.map((c, k) => r[c].padStart(w[k])).join('  ')
  console.log(
    `\nthreshold-wallet soak: ${doc.history.sends} finished sends (synthetic, see method), ${doc.machine.cores} × ${doc.machine.cpu_model}, TW_TX_RETENTION_S ${doc.devnet.tx_retention_s}`,
  )
  console.log(line(HISTORY_HEAD))
  for (const r of rows) console.log(line(r))
  console.log('\nretention after the last step:', doc.drain.map((d) => `+${d.at_s} s: /tw/tx/ ${d.keys.tx}, /tw/n/ ${d.keys.partitions}`).join('; '))
  console.log('summary:', JSON.stringify(doc.summary))
  for (const f of doc.findings) console.log(`finding: ${f}`)
  for (const n of doc.notes) console.log(`note: ${n}`)
}
