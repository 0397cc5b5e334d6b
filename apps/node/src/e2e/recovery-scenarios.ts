import { ApiError, type ClusterRecoveryDto, type TransactionDto, type TransactionStateDto } from '@tw/api'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { it } from 'node:test'
import { until as poll } from '../testing/until'
import { testAddress, walletHelpers, type WalletScenarioContext } from './wallet-scenarios'

/** A recovery scans the chain for every address of both keys: more than the default 20 s on a loaded machine. */
const RECOVER_MS = 180_000
const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 1000)

/**
 * etcd loses everything (issue 16 item 7): the five nodes are stopped, etcd is replaced by an
 * empty one, the nodes start on it and `cluster recover` rebuilds what etcd held from the
 * nodes' shares, the PostgreSQL history and the chain. Registered last in the five-node spec:
 * every node restarts.
 */
export function recoveryScenarios(ctx: WalletScenarioContext): void {
  const { api, mine, confirmed, fund } = walletHelpers(ctx)
  const ids = [1, 2, 3, 4, 5]
  const waitState = (id: string, states: TransactionStateDto[], ms: number): Promise<TransactionDto> =>
    until(`transaction ${id} in ${states.join('|')}`, ms, async () => {
      const tx = await api().transaction(id)
      return states.includes(tx.state) ? tx : null
    })
  const allReady = (what: string) =>
    until(what, 120_000, async () => {
      for (const id of ids) if ((await ctx.client(id).health('ready')).status !== 'ok') return null
      const s = await ctx.client(1).clusterStatus()
      return s.nodesUp === 5 && s.leader !== null
    })

  it('etcd lost: cluster recover brings back keys, address indexes and unfinished sends; the next spends of both types confirm', async () => {
    const cluster = ctx.cluster()
    for (const id of ids) if (!cluster.node(id).proc) cluster.start(id)
    await allReady('all five up before the loss')

    // What the scenarios before left in the mempool confirms first (the balances below are exact).
    await mine(1)
    await until('nothing unconfirmed', 60_000, async () => (await api().balance()).wallets.every((w) => w.unconfirmedSats === 0))

    // History to lose: coins on a few receive addresses, a send broadcast but not mined (its
    // change on a change address), and a send that never got its fourth vote.
    await fund('taproot', [40_000, 40_000, 40_000])
    const lastReceive = await api().address('taproot', false, 'invoice 7')
    const beforeLoss = await confirmed('taproot')
    const inMempool = await api().send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'taproot' }, randomUUID())
    const broadcast = await waitState(inMempool.id, ['broadcast'], 4 * 60_000)
    const descriptors = await api().descriptors()
    const ecdsaKey = (await api().listKeys()).keys.find((k) => k.protocol === 'ecdsa' && k.status === 'active')!
    const schnorrKey = (await api().listKeys()).keys.find((k) => k.protocol === 'schnorr' && k.status === 'active')!
    await cluster.stop(4)
    await cluster.stop(5)
    const stalled = await ctx.client(1).send({ to: testAddress(), amountSats: 5_000, feeRate: 2, type: 'taproot' }, randomUUID())
    assert.equal(stalled.state, 'voting')

    for (const id of ids) {
      await cluster.stop(id)
      ctx.restarted(id)
    }
    await cluster.replaceEtcd()
    for (const id of ids) cluster.start(id)
    await allReady('all five up on the empty etcd')

    // Nothing of it is in etcd now: no key, so no address and no balance.
    assert.deepEqual((await api().listKeys()).keys, [])
    await assert.rejects(api().address('taproot'), (e: unknown) => e instanceof ApiError && e.code === 'NO_ACTIVE_KEY')

    // The dry run names what it would do (once every node has published its share statements)
    // and writes nothing.
    let seen: unknown = null
    const dry = await until('a dry run that would register both keys and resolve the stalled send', 180_000, async () => {
      const r = await api()
        .recoverCluster({ dryRun: true }, RECOVER_MS)
        .catch((e: unknown) => void (seen = String(e)))
      if (!r) return null
      seen = r
      const would = r.keys.filter((k) => k.action === 'would_register').map((k) => k.keyId)
      const lost = r.transactions.find((t) => t.id === stalled.id)
      return would.includes(ecdsaKey.id) && would.includes(schnorrKey.id) && lost?.action === 'would_resolve' ? r : null
    }).catch((e: unknown) => assert.fail(`${String(e)}; last answer: ${JSON.stringify(seen)}`))
    assert.deepEqual(dry.keys.find((k) => k.keyId === schnorrKey.id)?.claimedBy, ids)
    assert.deepEqual(pick(dry, stalled.id), { from: 'voting', to: 'failed', code: 'RECORD_LOST', action: 'would_resolve' })
    assert.deepEqual(pick(dry, inMempool.id), { from: 'broadcast', to: 'broadcast', code: null, action: 'unresolved' })
    assert.deepEqual((await api().listKeys()).keys, [], 'a dry run writes nothing')

    // The recovery itself, through another node than the dry run's.
    const done = await ctx.client(3).recoverCluster({}, RECOVER_MS)
    assert.deepEqual(
      done.keys
        .filter((k) => k.action === 'registered')
        .map((k) => k.keyId)
        .sort(),
      [ecdsaKey.id, schnorrKey.id].sort(),
    )
    assert.deepEqual(pick(done, stalled.id), { from: 'voting', to: 'failed', code: 'RECORD_LOST', action: 'resolved' })
    const receive = done.addresses.find((a) => a.keyId === schnorrKey.id && a.chain === 'receive')!
    assert.ok(receive.lastUsedOnChain !== null && receive.after > receive.lastUsedOnChain, JSON.stringify(receive))
    const change = done.addresses.find((a) => a.keyId === schnorrKey.id && a.chain === 'change')!
    assert.ok(change.after >= 1 && change.lastInHistory !== null, JSON.stringify(change))

    // Every node sees the same keys, descriptors and addresses as before the loss.
    for (const id of ids) {
      const keys = (await ctx.client(id).listKeys()).keys
      assert.deepEqual(
        keys.map((k) => [k.id, k.publicKey]).sort(),
        [
          [ecdsaKey.id, ecdsaKey.publicKey],
          [schnorrKey.id, schnorrKey.publicKey],
        ].sort(),
        `node ${id}`,
      )
    }
    assert.deepEqual(await api().descriptors(), descriptors)
    // No address is handed out twice: the next one comes after every used one (the gap-limit
    // scan found the funded ones; the last handed out before the loss was never paid).
    const next = await api().address('taproot')
    assert.ok(next.index > lastReceive.index, `next receive index ${next.index}, last handed out before the loss ${lastReceive.index}`)
    assert.equal(done.labels, 1)
    const listed = await api().addresses({ type: 'taproot', limit: 1000 })
    assert.equal(listed.addresses.find((a) => a.index === lastReceive.index)?.label, 'invoice 7', 'its label is back')

    // The stalled send reads failed RECORD_LOST on every node, also on 4 and 5, which were down
    // when it was proposed (their history gets it too); the broadcast one confirms once mined.
    for (const id of ids) {
      const tx = await ctx.client(id).transaction(stalled.id)
      assert.equal(tx.state, 'failed', `node ${id}`)
      assert.equal(tx.error?.code, 'RECORD_LOST', `node ${id}`)
    }
    const history = await ctx.client(5).transactions({ state: 'failed', limit: 100 })
    assert.ok(
      history.transactions.some((t) => t.id === stalled.id),
      "node 5's history lists it",
    )
    await mine(1)
    const again = await api().recoverCluster({}, RECOVER_MS)
    assert.deepEqual(pick(again, inMempool.id), { from: 'broadcast', to: 'confirmed', code: null, action: 'resolved' })
    assert.equal(again.keys.filter((k) => k.action !== 'present').length, 0, 'the keys are registered once')
    assert.equal((await api().transaction(inMempool.id)).state, 'confirmed')
    const third = await api().recoverCluster({}, RECOVER_MS)
    assert.deepEqual(
      third.transactions.filter((t) => t.id === stalled.id || t.id === inMempool.id),
      [],
      'a third run finds nothing left',
    )

    // The balance is what the chain holds: the coins before the loss less the broadcast send's
    // amount and fee (its change found on the change chain).
    await until('the taproot balance after the loss', 60_000, async () => (await confirmed('taproot')) === beforeLoss - 10_000 - broadcast.feeSats)

    // The next spends of both types confirm.
    await fund('segwit', [60_000])
    for (const type of ['taproot', 'segwit'] as const) {
      const sent = await api().send({ to: testAddress(), amountSats: 7_000, feeRate: 2, type }, randomUUID())
      await waitState(sent.id, ['broadcast', 'confirmed'], 4 * 60_000)
      await mine(1)
      const ok = await waitState(sent.id, ['confirmed', 'failed', 'rejected', 'expired'], 60_000)
      assert.equal(ok.state, 'confirmed', `${type}: ${JSON.stringify(ok.error)}`)
    }
  })
}

function pick(r: ClusterRecoveryDto, id: string): Record<string, unknown> | undefined {
  const t = r.transactions.find((x) => x.id === id)
  return t && { from: t.from, to: t.to, code: t.code, action: t.action }
}
