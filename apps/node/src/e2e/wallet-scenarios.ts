import { ApiClient, ApiError, type TransactionDto, type TransactionStateDto, type WalletType } from '@tw/api'
import { descriptorChecksum, segwitAddress } from '@tw/bitcoin'
import assert from 'node:assert/strict'
import { createECDH, randomUUID } from 'node:crypto'
import { it } from 'node:test'
import type { NodeCluster } from '../testing/node-cluster'
import { until as poll } from '../testing/until'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 500)

/** What the scenarios need from the five-node spec that hosts them. */
export interface WalletScenarioContext {
  cluster: () => NodeCluster
  client: (id: number) => ApiClient
  /** The current leader, as node 1..5 sees it (any up node). */
  leader: () => Promise<number>
  /** Node ids currently running. */
  up: () => number[]
  /** Records that a scenario restarted node `id` (its in-memory metrics start over). */
  restarted: (id: number) => void
}

/** A destination the test holds itself: a fresh secp256k1 key's P2WPKH address on regtest. */
export function testAddress(): string {
  const ecdh = createECDH('secp256k1')
  ecdh.generateKeys()
  return segwitAddress(ecdh.getPublicKey(null, 'compressed'), 'regtest').address
}

/** Chain and balance helpers the scenario files share: regtest calls, mining, funding. */
export function walletHelpers(ctx: WalletScenarioContext) {
  const chainUrl = () => ctx.cluster().chain!.url
  const chainPost = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(chainUrl() + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.text()
    assert.ok(res.ok, `${path}: HTTP ${res.status} ${text}`)
    return JSON.parse(text) as T
  }
  const chainGet = async <T>(path: string): Promise<T> => {
    const res = await fetch(chainUrl() + path)
    const text = await res.text()
    assert.ok(res.ok, `${path}: HTTP ${res.status} ${text}`)
    return JSON.parse(text) as T
  }
  const mine = (blocks = 1) => chainPost<{ height: number }>('/regtest/mine', { blocks })
  const api = () => ctx.client(ctx.up()[0])
  const confirmed = async (type: WalletType): Promise<number> => {
    const b = await api().balance()
    return b.wallets.find((w) => w.type === type)?.confirmedSats ?? 0
  }
  /** Pays `amounts` from the faucet to fresh addresses of `type`, mines, waits until the wallet sees them confirmed. */
  const fund = async (type: WalletType, amounts: number[]): Promise<void> => {
    const before = await confirmed(type)
    for (const amountSats of amounts) {
      const { address } = await api().address(type)
      await chainPost('/regtest/faucet', { address, amountSats })
    }
    await mine(1)
    const want = before + amounts.reduce((a, b) => a + b, 0)
    await until(`${type} balance ${want}`, 30_000, async () => (await confirmed(type)) === want)
  }
  return { api, chainPost, chainGet, mine, confirmed, fund }
}

/**
 * The wallet on a real five-node cluster with the embedded regtest chain (which verifies
 * every input script with Bitcoin Core's consensus library before accepting a transaction).
 * Registered inside the five-node spec, after both keys exist, so aux info runs once.
 */
export function walletScenarios(ctx: WalletScenarioContext): void {
  const { api, chainGet, mine, confirmed, fund } = walletHelpers(ctx)
  const waitState = async (id: string, states: TransactionStateDto[], ms: number): Promise<TransactionDto> => {
    return until(`transaction ${id} in ${states.join('|')}`, ms, async () => {
      const tx = await api().transaction(id)
      if (['rejected', 'failed', 'expired'].includes(tx.state) && !states.includes(tx.state)) {
        assert.fail(`transaction ${id} ended ${tx.state}: ${JSON.stringify(tx.error)}`)
      }
      return states.includes(tx.state) ? tx : null
    })
  }
  /** Sends, waits for broadcast, mines, waits for confirmed; checks the chain and the balance. */
  const sendAndConfirm = async (type: WalletType, amountSats: number, opts: { key?: string; mode?: string; minInputs?: number } = {}) => {
    const to = testAddress()
    const before = await confirmed(type)
    const created = await api().send({ to, amountSats, feeRate: 2, type }, opts.key ?? randomUUID())
    assert.equal(created.state, 'voting')
    const sent = await waitState(created.id, ['broadcast', 'confirmed'], 4 * 60_000)
    assert.match(sent.txid ?? '', /^[0-9a-f]{64}$/)
    if (opts.mode) assert.equal(sent.signingMode, opts.mode)
    assert.ok(sent.inputs.length >= (opts.minInputs ?? 1), `${sent.inputs.length} inputs`)
    assert.equal(sent.votes.filter((v) => v.approve && v.signatureValid).length >= 4, true, JSON.stringify(sent.votes))
    assert.equal(sent.signers?.length, 4)
    assert.match(sent.psbt, /^cHNidP8/, 'the proposal is exported as a BIP174 PSBT')
    await mine(1)
    const done = await waitState(created.id, ['confirmed'], 60_000)
    // The chain has the payment at the test's own address, in the transaction the wallet reports.
    const utxos = await chainGet<{ txid: string; value: number; status: { confirmed: boolean } }[]>(`/address/${to}/utxo`)
    assert.deepEqual(
      utxos.map((u) => [u.txid, u.value, u.status.confirmed]),
      [[done.txid, amountSats, true]],
    )
    // The wallet's balance moved by exactly amount + fee (the change came back to it).
    await until(`${type} balance to drop by amount + fee`, 30_000, async () => (await confirmed(type)) === before - amountSats - done.feeSats)
    return done
  }

  it('wallet: descriptors with checksums and fresh addresses that are never handed out twice', async () => {
    const d = await api().descriptors()
    assert.equal(d.network, 'regtest')
    assert.deepEqual(d.descriptors.map((x) => x.type).sort(), ['segwit', 'taproot'])
    for (const x of d.descriptors) {
      for (const desc of [x.receive, x.change]) {
        const [body, sum] = desc.split('#')
        assert.equal(sum, descriptorChecksum(body), desc)
        assert.match(body, x.type === 'segwit' ? /^wpkh\(tpub[1-9A-HJ-NP-Za-km-z]+\/[01]\/\*\)$/ : /^tr\(tpub[1-9A-HJ-NP-Za-km-z]+\/[01]\/\*\)$/)
      }
    }
    const seen = new Set<string>()
    for (const id of ctx.up().slice(0, 3)) {
      for (const type of ['segwit', 'taproot'] as const) {
        const a = await ctx.client(id).address(type)
        assert.match(a.address, type === 'segwit' ? /^bcrt1q/ : /^bcrt1p/)
        assert.ok(!seen.has(a.address), `address ${a.address} handed out twice`)
        seen.add(a.address)
      }
    }
  })

  it('send: bad input gets a stable code and reserves nothing', async () => {
    await fund('segwit', [30_000])
    const to = testAddress()
    const expectCode = async (body: Record<string, unknown>, code: string, status: number) => {
      await assert.rejects(api().request('POST', '/api/v1/transactions', body), (err: unknown) => {
        assert.ok(err instanceof ApiError, String(err))
        assert.equal(err.code, code, `${JSON.stringify(body)}: ${err.message}`)
        assert.equal(err.status, status)
        return true
      })
    }
    await expectCode({ to: 'not-an-address', amountSats: 1000 }, 'INVALID_ADDRESS', 400)
    await expectCode({ to: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', amountSats: 1000 }, 'WRONG_NETWORK', 400)
    for (const amountSats of [0, -5, 1.5, 'abc', 2_100_000_000_000_001]) {
      await expectCode({ to, amountSats }, 'INVALID_AMOUNT', 400)
    }
    await expectCode({ to, amountSats: 100 }, 'DUST_OUTPUT', 400)
    await expectCode({ to, amountSats: 1000, feeRate: 0 }, 'FEE_RATE_OUT_OF_BOUNDS', 400)
    await expectCode({ to, amountSats: 1000, feeRate: 100_000 }, 'FEE_RATE_OUT_OF_BOUNDS', 400)
    await expectCode({ to, amountSats: 50_000_000 }, 'INSUFFICIENT_FUNDS', 422)
    await expectCode({ to, amountSats: 1000, extra: 1 }, 'VALIDATION_FAILED', 400)
    const balance = await api().balance()
    assert.equal(balance.wallets.find((w) => w.type === 'segwit')?.reservedSats, 0)
    assert.equal((await api().transactions()).transactions.length, 0, 'no transaction was created')
  })

  it('send (SegWit, ECDSA full signing, 3+ inputs): confirms; the same Idempotency-Key gives the same transaction', async () => {
    await fund('segwit', [20_000, 20_000])
    const key = randomUUID()
    const done = await sendAndConfirm('segwit', 50_000, { key, mode: 'full', minInputs: 3 })
    const again = await api().send({ to: done.to, amountSats: 50_000, feeRate: 2, type: 'segwit' }, key)
    assert.equal(again.id, done.id)
    assert.equal(again.txid, done.txid)
    await assert.rejects(api().send({ to: done.to, amountSats: 50_001, feeRate: 2, type: 'segwit' }, key), (err: unknown) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.code, 'IDEMPOTENCY_KEY_REUSED')
      assert.equal(err.status, 409)
      return true
    })
    assert.equal((await api().transactions()).transactions.filter((t) => t.id === done.id).length, 1)
  })

  it('send (SegWit) with a full presignature pool: every input signed from a presignature', async () => {
    await fund('segwit', [20_000, 20_000, 20_000])
    const status = await api().presignatureStatus()
    assert.deepEqual(status.preferredSigners, [1, 2, 3, 4])
    await api().generatePresignatures({ count: status.coverage.utxos + 2 })
    const full = await until('presignatures for every spendable coin', 6 * 60_000, async () => {
      const s = await api().presignatureStatus()
      return s.generating === 0 && s.coverage.ratio === 1 ? s : null
    })
    assert.ok((full.ready['1,2,3,4'] ?? 0) >= full.coverage.utxos)
    const done = await sendAndConfirm('segwit', 50_000, { mode: 'presignature', minInputs: 3 })
    const after = await api().presignatureStatus()
    assert.equal(after.used, done.inputs.length, 'one presignature used per input')
  })

  it('send (Taproot, FROST): confirms after the chain verified the BIP340 signature', async () => {
    await fund('taproot', [100_000])
    await sendAndConfirm('taproot', 50_000, { mode: 'frost' })
  })

  it('concurrent sends never spend one coin twice', async () => {
    await fund('segwit', [15_000, 15_000])
    const [a, b] = await Promise.all([
      api().send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'segwit' }, randomUUID()),
      api().send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'segwit' }, randomUUID()),
    ])
    const outpoints = (t: TransactionDto) => t.inputs.map((i) => `${i.txid}:${i.vout}`)
    const shared = outpoints(a).filter((o) => outpoints(b).includes(o))
    assert.deepEqual(shared, [], 'the two proposals share no input')
    for (const t of [a, b]) await waitState(t.id, ['broadcast', 'confirmed'], 4 * 60_000)
    await mine(1)
    for (const t of [a, b]) await waitState(t.id, ['confirmed'], 60_000)
  })

  it('the leader dies while a send is signing: the send completes once, with one signed transaction', async () => {
    await fund('segwit', [40_000])
    const leader = await ctx.leader()
    const created = await api().send({ to: testAddress(), amountSats: 30_000, feeRate: 2, type: 'segwit' }, randomUUID())
    await waitState(created.id, ['signing', 'signed', 'broadcast'], 60_000)
    ctx.cluster().node(leader).proc?.kill('SIGKILL')
    ctx.restarted(leader)
    try {
      const sent = await waitState(created.id, ['broadcast', 'confirmed'], 5 * 60_000)
      await mine(1)
      const done = await waitState(created.id, ['confirmed'], 60_000)
      assert.equal(done.txid, sent.txid)
      assert.equal(done.history.filter((h) => h.state === 'signed').length, 1, 'signed once')
      // On chain, every input of the proposal is spent by exactly the wallet's transaction.
      for (const i of done.inputs) {
        const spend = await chainGet<{ spent: boolean; txid?: string }>(`/tx/${i.txid}/outspend/${i.vout}`)
        assert.deepEqual([spend.spent, spend.txid], [true, done.txid])
      }
      // A crash is a fault, not misbehaviour: the dead node is neither accused nor banned.
      const l = await api().violations()
      assert.deepEqual(
        l.violations.filter((v) => v.offender === leader),
        [],
      )
      assert.deepEqual(l.bans, [])
    } finally {
      ctx.cluster().start(leader)
      await until(`node ${leader} back`, 60_000, async () => (await ctx.client(leader).health('ready')).status === 'ok')
    }
  })
}
