import 'reflect-metadata'
import { Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { deriveEcdsaChild, taprootAddress } from '@tw/bitcoin'
import type { SendRequest, TransactionListDto } from '@tw/api'
import { configureApp } from '../api/configure-app'
import { TransactionsController } from '../api/wallet.controller'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { FakeEtcd } from '../testing/fake-etcd'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { SendService } from './send.service'
import { ReplaceService } from './replace.service'
import { TxAbandonService } from './tx-abandon.service'
import { BACKFILL_BATCH, DELETE_BATCH, LEADER_BATCH, TxRetentionService } from './tx-retention.service'
import { TxStore } from './tx-store'
import { WalletKeys, type PresigRecord, type SigningAttempt, type TxRecord } from './wallet.types'

// Issue 14: finished transactions leave etcd after TW_TX_RETENTION_S (the leader's part fenced,
// only once its PostgreSQL mirror holds the final state; every node its own partition), the
// history is served from PostgreSQL, and an Idempotency-Key still names its one transaction.

const RETENTION_S = 3600
const HOUR = 3600_000
const config = (nodeId: number) =>
  ({
    nodeId,
    threshold: 4,
    clusterSize: 5,
    txRetentionS: RETENTION_S,
    chain: { network: 'regtest', confirmations: 1 },
    policy: { maxAmountSats: 1_000_000, dailyLimitSats: 10_000_000, maxFeeSats: 50_000, minFeeRate: 1, maxFeeRate: 100, allow: [], deny: [] },
  }) as unknown as AppConfig

const identity = { verify: async () => true, sign: () => 'sig' }
const engine = { isStarted: false }

let seq = 0
function record(patch: Partial<TxRecord> = {}): TxRecord {
  seq++
  const id = `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`
  const at = new Date(Date.now() - 1.5 * HOUR).toISOString()
  return {
    id,
    type: 'taproot',
    keyId: 'k1',
    to: 'bcrt1qdest',
    amountSats: 10_000 + seq,
    feeSats: 200,
    feeRate: 2,
    vsize: 100,
    locktime: 0,
    inputs: [{ txid: String(seq).padStart(64, 'a'), vout: 0, value: 50_000, scriptPubKey: '51', path: [0, seq] }],
    outputs: [],
    unsignedTx: '00',
    proposalHash: 'h',
    proposedBy: 1,
    state: 'confirmed',
    attempt: 1,
    signers: [1, 2, 3, 4],
    signingMode: 'presignature',
    signedTx: '00',
    txid: 'ff'.repeat(32),
    error: null,
    createdAt: at,
    updatedAt: at,
    history: [{ state: 'confirmed', at }],
    ...patch,
  }
}

describe('transaction retention (issue 14)', () => {
  let pg: TestDatabase
  let db: DatabaseRepository
  let etcd: FakeEtcd
  let metrics: MetricsService
  const leader = { isLeader: true, leaderTerm: '1' }
  const follower = { isLeader: false, leaderTerm: null }

  before(async () => {
    pg = await createTestDatabase()
    db = new DatabaseRepository({ database: { url: pg.url } } as AppConfig)
    assert.equal(await db.start(10_000), true)
  })
  after(async () => {
    await db?.stop()
    await pg?.drop()
  })
  beforeEach(() => {
    etcd = new FakeEtcd()
    metrics = new MetricsService(config(1))
  })

  const store = (nodeId: number, database: DatabaseRepository = db) => new TxStore(config(nodeId), etcd as never, database, identity as never, engine as never)
  const retention = (nodeId: number, cluster: object = nodeId === 1 ? leader : follower, database: DatabaseRepository = db) =>
    new TxRetentionService(config(nodeId), etcd as never, cluster as never, store(nodeId, database), metrics)

  /** A finished transaction in etcd as a spend leaves it: record, attempt, presignature, every node's vote and result. */
  async function seed(tx: TxRecord, opts: { locks?: boolean } = {}): Promise<{ presig: string }> {
    const presig = `p-${tx.id}`
    await etcd.put(WalletKeys.tx(tx.id), tx)
    const attempt: Partial<SigningAttempt> = { txId: tx.id, attempt: 1, signers: [1, 2, 3, 4], presignatures: [presig] }
    await etcd.put(WalletKeys.attempt(tx.id, 1), attempt)
    await etcd.put(WalletKeys.presig(presig), {
      id: presig,
      keyId: 'k1',
      path: [0, 1],
      signers: [1, 2, 3, 4],
      status: 'used',
      txId: tx.id,
      createdAt: tx.createdAt,
      term: '1',
    } satisfies PresigRecord)
    for (let n = 1; n <= 5; n++) {
      await etcd.put(WalletKeys.vote(tx.id, n), { payload: { nodeId: n, txId: tx.id }, signature: 's' })
      if (n <= 4) await etcd.put(WalletKeys.result(tx.id, 1, n), { nodeId: n, ok: true })
      if (n <= 4) await etcd.put(WalletKeys.presigResult(presig, n), { nodeId: n, ok: true })
    }
    if (opts.locks) for (const i of tx.inputs) await etcd.put(WalletKeys.utxoLock(i.txid, i.vout), { txId: tx.id })
    return { presig }
  }
  const keysOf = (tx: TxRecord) => etcd.keys().filter((k) => k.includes(tx.id))

  it('a confirmed transaction past the retention, mirrored in its final state: every etcd key of it goes (leader first, then each node its partition)', async () => {
    const tx = record()
    const { presig } = await seed(tx)
    await store(1).mirror(tx)
    const run = await retention(1).run()
    assert.equal(run.transactions, 1)
    assert.equal(etcd.has(WalletKeys.tx(tx.id)), false)
    assert.equal(etcd.has(WalletKeys.attempt(tx.id, 1)), false)
    assert.equal(etcd.has(WalletKeys.presig(presig)), false)
    assert.deepEqual(etcd.keys('/tw/n/1/'), [], "the leader's own partition keys went in the same run")
    assert.ok(etcd.keys('/tw/n/2/').length > 0, "another node's partition is left to that node")
    for (let n = 2; n <= 5; n++) await retention(n).run()
    assert.deepEqual(keysOf(tx), [])
    assert.deepEqual(etcd.keys('/tw/n/'), [])
  })

  it('its mirror row missing or behind, or PostgreSQL down: nothing of it is pruned', async () => {
    const tx = record()
    await seed(tx)
    const before = keysOf(tx)
    // No mirror row (the run mirrors it again for the next run).
    assert.equal((await retention(1).run()).transactions, 0)
    assert.deepEqual(keysOf(tx), before)
    // A row behind the record's final state (once the run's own re-mirroring landed).
    await new Promise((r) => setTimeout(r, 300))
    await db.read((em) => em.query(`UPDATE transactions SET state = 'broadcast' WHERE tx_id = $1`, [tx.id]))
    assert.equal((await retention(1).run()).transactions, 0)
    assert.deepEqual(keysOf(tx), before)
    // PostgreSQL down (never reached).
    const down = new DatabaseRepository({ database: { url: 'postgres://postgres@127.0.0.1:1/none' } } as AppConfig)
    assert.equal((await retention(1, leader, down).run()).transactions, 0)
    assert.deepEqual(keysOf(tx), before)
    await down.stop()
  })

  it('not past the retention, not finished, or a deposed leader: kept', async () => {
    const recent = record({ updatedAt: new Date().toISOString() })
    const running = record({ state: 'broadcast' })
    const old = record()
    for (const tx of [recent, running, old]) {
      await seed(tx)
      await store(1).mirror(tx)
    }
    const deposed = { isLeader: true, leaderTerm: '0' }
    assert.equal((await retention(1, deposed).run()).transactions, 0)
    assert.ok(etcd.has(WalletKeys.tx(old.id)), 'a write fenced on an old term does nothing')
    assert.equal((await retention(1).run()).transactions, 1)
    assert.ok(etcd.has(WalletKeys.tx(recent.id)) && etcd.has(WalletKeys.tx(running.id)))
    assert.equal(etcd.has(WalletKeys.tx(old.id)), false)
  })

  it('failed CHAIN_REJECTED with its coin locks kept: kept (a signed version may still confirm), and every node keeps its votes', async () => {
    const tx = record({ state: 'failed', error: { code: 'CHAIN_REJECTED', message: 'may still confirm' } })
    await seed(tx, { locks: true })
    await store(1).mirror(tx)
    for (let n = 1; n <= 5; n++) await retention(n).run()
    assert.ok(etcd.has(WalletKeys.tx(tx.id)))
    assert.ok(etcd.has(WalletKeys.vote(tx.id, 3)))
    assert.ok(etcd.has(WalletKeys.utxoLock(tx.inputs[0].txid, 0)))
  })

  it('failed CHAIN_REJECTED, then abandoned (tx abandon: the chain knows nothing of it): its locks are gone and the next runs prune it', async () => {
    const tx = record({ state: 'failed', error: { code: 'CHAIN_REJECTED', message: 'may still confirm' } })
    await seed(tx, { locks: true })
    await store(1).mirror(tx)
    await retention(1).run()
    assert.ok(etcd.has(WalletKeys.tx(tx.id)), 'kept while it holds locks')
    const chain = { txStatus: async () => ({ found: false, confirmed: false, blockHeight: null }), outspend: async () => ({ spent: false, txid: null, confirmed: false }) }
    const abandon = new TxAbandonService(etcd as never, { chain: () => chain } as never, store(1), { record: async () => undefined } as never)
    const r = await abandon.abandon(tx.id, 'refused as invalid; checked', null)
    assert.deepEqual(r.released, [`${tx.inputs[0].txid}:0`])
    for (let n = 1; n <= 5; n++) await retention(n).run()
    assert.deepEqual(keysOf(tx), [])
  })

  it('a node prunes its partition keys of a transaction the leader could not prune once it is twice the retention old and in its own mirror', async () => {
    const tx = record({ updatedAt: new Date(Date.now() - 3 * HOUR).toISOString() })
    await seed(tx)
    await store(3).mirror(tx)
    await retention(3).run()
    assert.deepEqual(
      etcd.keys('/tw/n/3/').filter((k) => !k.includes('presig')),
      [],
    )
    assert.ok(etcd.has(WalletKeys.tx(tx.id)) && etcd.has(WalletKeys.vote(tx.id, 2)))
  })

  it('a backlog past one batch: the run prunes a full batch and says more (the next run follows in seconds), and runs drain it', async () => {
    // The soak (bench/results/devnet-history.json) found 100 per minute-long run, ~20/min
    // under load: a backlog of a day's sends never drained.
    const txs = Array.from({ length: LEADER_BATCH + 20 }, () => record())
    for (const tx of txs) {
      await etcd.put(WalletKeys.tx(tx.id), tx)
      await store(1).mirror(tx)
    }
    const first = await retention(1).run()
    assert.equal(first.transactions, LEADER_BATCH)
    assert.equal(first.more, true)
    const second = await retention(1).run()
    assert.equal(second.transactions, 20)
    assert.equal(second.more, false)
    assert.deepEqual(etcd.keys('/tw/tx/'), [])
  })

  it('finished transactions leave etcd a hundred keys to a fenced transaction, not one transaction each; one changed since it was read stays', async () => {
    // The soak: one fenced write per transaction (a Raft round and an fsync each) drained ~100 a minute.
    const txs = Array.from({ length: 40 }, () => record())
    for (const tx of txs) {
      await seed(tx)
      await store(1).mirror(tx)
    }
    const before = etcd.fenced.length
    const run = await retention(1).run()
    assert.equal(run.transactions, 40)
    for (const tx of txs) assert.equal(etcd.has(WalletKeys.tx(tx.id)), false)
    const writes = etcd.fenced.slice(before).filter((o) => (o.deletes ?? []).some((k) => k.startsWith('/tw/tx/')))
    // Record, active marker, attempt and presignature record: 4 keys a transaction, 25 to a group.
    assert.equal(writes.length, Math.ceil((40 * 4) / DELETE_BATCH))
    for (const w of writes) assert.ok((w.deletes ?? []).length <= DELETE_BATCH)

    // A record changed after it was read (its group's write fails): the others still go, that one stays.
    const more = Array.from({ length: 10 }, () => record())
    for (const tx of more) {
      await seed(tx)
      await store(1).mirror(tx)
    }
    let changedOnce = false
    etcd.beforeFenced = async (ops) => {
      if (!changedOnce && (ops.deletes ?? []).length > 4) {
        changedOnce = true
        await etcd.put(WalletKeys.tx(more[3].id), { ...more[3], history: [...more[3].history, { state: 'confirmed', at: new Date().toISOString() }] })
      }
    }
    const again = await retention(1).run()
    etcd.beforeFenced = null
    assert.equal(again.transactions, 9)
    assert.ok(etcd.has(WalletKeys.tx(more[3].id)), 'the record changed after it was read stays (for the next run)')
    for (const tx of more.filter((_, i) => i !== 3)) assert.equal(etcd.has(WalletKeys.tx(tx.id)), false)
  })

  it("one transaction's etcd timeout skips that transaction, not the rest of the pass; five in a row end it", async () => {
    const txs = [record(), record(), record()]
    for (const tx of txs) {
      await seed(tx)
      await store(1).mirror(tx)
    }
    const getPrefix = etcd.getPrefix.bind(etcd)
    let down = (key: string) => key.includes(txs[0].id)
    etcd.getPrefix = (async (prefix: string) => {
      if (down(prefix)) throw new Error('etcd range: no answer within 3500 ms')
      return getPrefix(prefix)
    }) as typeof etcd.getPrefix
    const run = await retention(1).run()
    assert.equal(run.transactions, 2, 'the two others left etcd')
    assert.equal(run.skipped, 1)
    assert.ok(etcd.has(WalletKeys.tx(txs[0].id)), 'the timed-out one stays for a later run')
    const scraped = await metrics.render()
    assert.match(scraped, /mpc_retention_pruned_total\{kind="transactions",node_id="1"\} 2/)
    assert.match(scraped, /mpc_retention_skipped_total\{node_id="1"\} 1/)

    const more = Array.from({ length: 8 }, () => record())
    for (const tx of more) {
      await seed(tx)
      await store(1).mirror(tx)
    }
    down = (key: string) => key.startsWith(WalletKeys.attemptsAll)
    const dead = await retention(1).run()
    assert.equal(dead.transactions, 0)
    assert.equal(dead.skipped, 5, 'etcd down: the pass stopped after five failures in a row, not one per record')
    down = () => false
    assert.equal((await retention(1).run()).transactions, 9, 'etcd back: every one goes')
  })

  it("a node's partition keys leave a hundred to an etcd transaction, not one transaction per key", async () => {
    // The soak: five nodes deleting their partitions key by key kept etcd too busy for the
    // leader's own pruning (a minute-long run for 2 000 keys per node).
    const txs = Array.from({ length: 40 }, () => record())
    for (const tx of txs) {
      const { presig } = await seed(tx)
      // The leader pruned the transaction and its presignature record already.
      await etcd.delete(WalletKeys.tx(tx.id))
      await etcd.delete(WalletKeys.presig(presig))
    }
    const mine = etcd.keys('/tw/n/3/').length
    assert.equal(mine, 120, 'a vote, a result and a presignature result per transaction')
    const before = etcd.atomics.length
    const run = await retention(3).run()
    assert.equal(run.partition, mine)
    assert.deepEqual(etcd.keys('/tw/n/3/'), [])
    assert.equal(etcd.atomics.length - before, Math.ceil(mine / DELETE_BATCH))
    // Node 4: one of its keys changes after it was read (in the first batch): the others still go, that one stays.
    const changed = WalletKeys.vote(txs[0].id, 4)
    etcd.beforeAtomic = async (ops) => {
      if ((ops.deletes ?? []).length > 1) await etcd.put(changed, { payload: { nodeId: 4, txId: txs[0].id }, signature: 'changed' })
    }
    const again = await retention(4).run()
    etcd.beforeAtomic = null
    assert.deepEqual(etcd.keys('/tw/n/4/'), [changed], 'the key changed after it was read stays')
    assert.equal(again.partition, mine - 1)
  })

  it('reads /tw/tx/ page by page', async () => {
    for (let i = 0; i < 450; i++) await etcd.put(WalletKeys.tx(`x-${String(i).padStart(4, '0')}`), record({ state: 'voting' }))
    const seen: string[] = []
    for await (const page of store(1).pages(200)) seen.push(...page.map((e) => e.key))
    assert.equal(seen.length, 450)
    assert.equal(etcd.pagesRead, 3)
  })

  it("a node down while a send finished and left etcd gets it into its own history from another node's row at its next run; one still running is not copied", async () => {
    const tx = record()
    await seed(tx)
    await store(1).mirror(tx)
    await store(2).mirror(tx)
    const running = record({ state: 'broadcast' })
    await store(1).mirror(running)
    assert.equal((await retention(1).run()).transactions, 1, 'pruned: the leader holds it')
    // Node 5 was down the whole time: its history never saw the send.
    assert.equal(await store(5).fromMirror(tx.id), null)
    // (Rows of the tests before are copied too, a batch per run: a full batch says more.)
    let copied = 0
    for (let i = 0; i < 20; i++) {
      const run = await retention(5).run()
      copied += run.backfilled
      assert.equal(run.more, run.backfilled >= BACKFILL_BATCH, JSON.stringify(run))
      if (!run.more) break
    }
    assert.ok(copied >= 1)
    const shown = await store(5).fromMirror(tx.id)
    assert.equal(shown?.state, 'confirmed')
    assert.equal(shown?.amountSats, tx.amountSats)
    assert.equal(shown?.txid, tx.txid)
    assert.ok(
      (await store(5).history({ limit: 1000 })).transactions.some((t) => t.id === tx.id),
      "in node 5's history list",
    )
    assert.equal(await store(5).fromMirror(running.id), null, 'a send still running is mirrored by the node itself, from etcd')
    // A second run finds nothing left to copy; nothing is copied twice.
    assert.equal((await retention(5).run()).backfilled, 0)
    const rows = await db.read((em) => em.query(`SELECT count(*)::int AS n FROM transactions WHERE tx_id = $1 AND node_id = 5`, [tx.id]))
    assert.equal(rows[0].n, 1)
  })

  describe('Idempotency-Key after pruning', () => {
    const XPUB = {
      publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
      chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
    }
    const own = (p: number[]) => taprootAddress(Buffer.from(deriveEcdsaChild(XPUB.publicKey, XPUB.chainCode, p)).subarray(1), 'regtest')
    const BODY = { to: own([9, 9]).address, amountSats: 50_000, feeRate: 2, type: 'taproot' } as SendRequest

    function sendService(nodeId = 1): SendService {
      const utxos = () =>
        Array.from({ length: 3 }, (_, i) => ({
          txid: String(i + 1).padStart(64, 'c'),
          vout: 0,
          value: 100_000,
          scriptPubKey: own([0, i]).scriptPubKey,
          keyType: 'taproot' as const,
          path: [0, i],
          confirmed: true,
          address: own([0, i]).address,
        }))
      const wallet = {
        key: async () => ({ keyId: 'k1', type: 'taproot' }),
        chain: () => ({ tipHeight: async () => 200, feeEstimates: async () => ({}) }),
        confirmedUtxos: async () => utxos(),
        reservations: async () => new Map((await etcd.getPrefix<{ txId: string }>(WalletKeys.utxoLocks)).map((e) => [e.key.slice(WalletKeys.utxoLocks.length), e.value.txId])),
        derive: (_k: unknown, path: number[]) => own(path),
      }
      return new SendService(
        config(nodeId),
        etcd as never,
        wallet as never,
        store(nodeId),
        { record: async () => undefined } as never,
        { has: () => false } as never,
        { readyPaths: async () => new Set() } as never,
        { sign: () => 'signed-by-the-proposer' } as never,
      )
    }

    it('a retry with the same key after the transaction and its key record left etcd: the same transaction, no second record', async () => {
      const svc = sendService()
      const KEY = `retry-after-prune-${Date.now()}`
      const first = await svc.create(BODY, KEY)
      assert.equal(first.created, true)
      // It confirms (the leader's transition: locks released, mirrored) and ages past 7 × the retention.
      const entry = (await etcd.get<TxRecord>(WalletKeys.tx(first.tx.id)))!
      const done: TxRecord = {
        ...entry.value,
        state: 'confirmed',
        updatedAt: new Date(Date.now() - 2 * HOUR).toISOString(),
        history: [...entry.value.history, { state: 'confirmed', at: new Date().toISOString() }],
      }
      await etcd.put(WalletKeys.tx(done.id), done)
      await etcd.delete(WalletKeys.active(done.id))
      for (const k of etcd.keys(WalletKeys.utxoLocks)) await etcd.delete(k)
      await store(1).mirror(done)
      const run = await retention(1).run(Date.now() + 8 * RETENTION_S * 1000)
      assert.equal(run.transactions, 1)
      assert.equal(run.idempotency, 1)
      assert.deepEqual(etcd.keys(WalletKeys.txs), [])
      assert.deepEqual(etcd.keys('/tw/idempotency/'), [])

      const retry = await svc.create(BODY, KEY)
      assert.equal(retry.created, false)
      assert.equal(retry.tx.id, first.tx.id)
      assert.equal(retry.tx.state, 'confirmed')
      assert.deepEqual(etcd.keys(WalletKeys.txs), [], 'no second transaction')
      const rows = await db.read((em) => em.query(`SELECT count(*)::int AS n FROM transactions WHERE idempotency_key = $1`, [KEY]))
      assert.equal(rows[0].n, 1)
      // The same key with another body is still refused.
      await assert.rejects(svc.create({ ...BODY, amountSats: 60_000 } as SendRequest, KEY), (e: Error & { code?: string }) => e.code === 'IDEMPOTENCY_KEY_REUSED')
      // GET of the pruned transaction comes from the mirror.
      assert.equal((await svc.get(first.tx.id)).id, first.tx.id)
      // Another node sharing the database (no mirror row of its own): the same transaction too.
      const elsewhere = await sendService(2).create(BODY, KEY)
      assert.equal(elsewhere.created, false)
      assert.equal(elsewhere.tx.id, first.tx.id)
      assert.deepEqual(etcd.keys(WalletKeys.txs), [], 'no second transaction')
    })
  })

  describe('GET /api/v1/transactions from PostgreSQL', () => {
    let app: INestApplication
    let base: string
    let hist: DatabaseRepository
    let histDb: TestDatabase
    const seeded: TxRecord[] = []

    before(async () => {
      histDb = await createTestDatabase()
      hist = new DatabaseRepository({ database: { url: histDb.url } } as AppConfig)
      await hist.start(10_000)
      const s = new TxStore(config(1), etcd as never, hist, identity as never, engine as never)
      // 7 transactions a minute apart: 5 confirmed Taproot, 2 rejected SegWit; another node's row is not listed.
      for (let i = 0; i < 7; i++) {
        const at = new Date(Date.UTC(2026, 0, 1, 12, i)).toISOString()
        const tx = record({
          createdAt: at,
          updatedAt: at,
          state: i < 5 ? 'confirmed' : 'rejected',
          type: i < 5 ? 'taproot' : 'segwit',
          txid: String(i).padStart(64, 'c'),
          ...(i === 2 || i === 6 ? { externalId: 'payout-7' } : {}),
        })
        seeded.push(tx)
        await s.mirror(tx)
      }
      await new TxStore(config(2), etcd as never, hist, identity as never, engine as never).mirror(record())
      const svc = new SendService(config(1), etcd as never, {} as never, s, {} as never, {} as never, {} as never, {} as never)
      @Module({
        controllers: [TransactionsController],
        providers: [
          { provide: SendService, useValue: svc },
          { provide: TxAbandonService, useValue: {} },
          { provide: ReplaceService, useValue: {} },
        ],
      })
      class HistoryModule {}
      app = await NestFactory.create(HistoryModule, { logger: false })
      configureApp(app)
      await app.listen(0, '127.0.0.1')
      base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/api/v1/transactions`
    })
    after(async () => {
      await app?.close()
      await hist?.stop()
      await histDb?.drop()
    })
    const list = async (qs: string) => {
      const res = await fetch(`${base}${qs}`)
      return { status: res.status, body: (await res.json()) as TransactionListDto & { error?: { code: string } } }
    }

    it('pages newest first with a stable cursor: 3 pages of 3, 3, 1', async () => {
      const ids: string[] = []
      let cursor: string | null = null
      const sizes: number[] = []
      do {
        const r = await list(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        assert.equal(r.status, 200)
        sizes.push(r.body.transactions.length)
        ids.push(...r.body.transactions.map((t) => t.id))
        cursor = r.body.nextCursor
      } while (cursor)
      assert.deepEqual(sizes, [3, 3, 1])
      assert.deepEqual(
        ids,
        [...seeded].reverse().map((t) => t.id),
      )
    })

    it('filters by state, type, since and externalId', async () => {
      const byRef = (await list('?externalId=payout-7')).body.transactions
      assert.deepEqual(
        byRef.map((t) => [t.id, t.externalId]),
        [
          [seeded[6].id, 'payout-7'],
          [seeded[2].id, 'payout-7'],
        ],
      )
      assert.deepEqual((await list('?externalId=payout-8')).body.transactions, [])
      assert.deepEqual(
        (await list('?state=rejected')).body.transactions.map((t) => t.id),
        [seeded[6].id, seeded[5].id],
      )
      assert.equal((await list('?type=taproot')).body.transactions.length, 5)
      const since = await list(`?since=${encodeURIComponent(seeded[4].createdAt)}&state=confirmed`)
      assert.deepEqual(
        since.body.transactions.map((t) => t.id),
        [seeded[4].id],
      )
      assert.equal(since.body.nextCursor, null)
    })

    it('a cancellation (it pays nothing out: amount 0) is mirrored and found by its txid', async () => {
      const other = new TxStore(config(3), etcd as never, hist, identity as never, engine as never)
      const cancel = record({ amountSats: 0, replacement: { of: seeded[0].id, kind: 'cancel' }, state: 'broadcast', txid: 'dd'.repeat(32) })
      await other.mirror(cancel)
      assert.equal(await other.idByTxid('dd'.repeat(32)), cancel.id)
      assert.deepEqual((await other.fromMirror(cancel.id))?.replacement, { of: seeded[0].id, kind: 'cancel' })
    })

    it('a bad cursor, limit, state or since: 400 VALIDATION_FAILED', async () => {
      for (const qs of [
        '?cursor=not-a-cursor',
        `?cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
        '?limit=0',
        '?limit=501',
        '?state=lost',
        '?since=yesterday',
        '?type=legacy',
        '?externalId=has%20space',
        '?extra=1',
      ]) {
        const r = await list(qs)
        assert.equal(r.status, 400, qs)
        assert.equal(r.body.error?.code, 'VALIDATION_FAILED', qs)
      }
    })

    it('GET /:id of a transaction only the mirror has', async () => {
      const res = await fetch(`${base}/${seeded[2].id}`)
      assert.equal(res.status, 200)
      assert.equal(((await res.json()) as { id: string }).id, seeded[2].id)
    })

    it('GET /:txid: by its Bitcoin txid (either case); an unknown txid is 404, neither an id nor a txid 400', async () => {
      for (const ref of [seeded[3].txid!, seeded[3].txid!.toUpperCase()]) {
        const res = await fetch(`${base}/${ref}`)
        assert.equal(res.status, 200, ref)
        assert.equal(((await res.json()) as { id: string }).id, seeded[3].id)
      }
      const unknown = await fetch(`${base}/${'9'.repeat(64)}`)
      assert.equal(unknown.status, 404)
      assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /no transaction of this wallet has txid 9{64}/)
      for (const bad of ['c'.repeat(63), 'g'.repeat(64), 'not-an-id']) {
        const res = await fetch(`${base}/${bad}`)
        assert.equal(res.status, 400, bad)
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED')
      }
    })
  })
})
