import { ApiError, type DrillBehaviour, type TransactionDto, type ViolationDto, type ViolationListDto, type WalletType } from '@tw/api'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { it } from 'node:test'
import { until as poll } from '../testing/until'
import { testAddress, walletHelpers, type WalletScenarioContext } from './wallet-scenarios'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 500)

export interface ByzantineScenarioContext extends WalletScenarioContext {
  /** An address every node's policy denies (TW_POLICY_DENY). */
  deniedAddress: string
}

/**
 * Byzantine drills on the real five-node cluster (DESIGN §5, security-tests A1, A2, A9, A12,
 * C1, C2). Every node runs with TW_BYZANTINE_DRILL=true (tests only), so a test switches one
 * node's misbehaviour on through `POST /api/v1/drill`, proves the defence, then lifts the
 * ban and switches it off again.
 */
export function byzantineScenarios(ctx: ByzantineScenarioContext): void {
  const { api, chainPost, fund } = walletHelpers(ctx)
  const drill = async (nodeId: number, behaviours: DrillBehaviour[]) => {
    const d = await ctx.client(nodeId).setDrill(behaviours)
    assert.deepEqual(d.behaviours.sort(), [...behaviours].sort())
  }
  const violations = () => api().violations()
  /** A node's ban is lifted through another node's API (a node's own unban would not count). */
  const unbanVia = (banned: number) => ctx.client(ctx.up().find((id) => id !== banned)!)
  const sendOne = async (type: WalletType, via = ctx.up()[0]): Promise<TransactionDto> => {
    const tx = await ctx.client(via).send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type }, randomUUID())
    const wait = (states: string[]) =>
      until(`transaction ${tx.id} ${states.join('|')}`, 4 * 60_000, async () => {
        const t = await api().transaction(tx.id)
        if (['rejected', 'failed', 'expired'].includes(t.state)) assert.fail(`transaction ended ${t.state}: ${JSON.stringify(t.error)}`)
        return states.includes(t.state) ? t : null
      })
    await wait(['broadcast', 'confirmed'])
    // Confirm it, so its change is spendable by the next send (sends use confirmed coins only).
    await chainPost('/regtest/mine', { blocks: 1 })
    return wait(['confirmed'])
  }
  /** Sends until `offender` was a signer and got caught (rotation puts it in 4 of 5 sets). */
  const sendUntilCaught = async (type: WalletType, offender: number, kind: ViolationDto['type']): Promise<{ sent: TransactionDto[]; violation: ViolationDto }> => {
    const sent: TransactionDto[] = []
    const known = new Set((await violations()).violations.map((v) => v.id))
    for (let i = 0; i < 6; i++) {
      sent.push(await sendOne(type))
      const v = (await violations()).violations.find((x) => x.offender === offender && x.type === kind && !known.has(x.id))
      if (v) return { sent, violation: v }
    }
    assert.fail(`node ${offender} was never caught (${kind})`)
  }
  const waitBanned = async (ids: number[]): Promise<ViolationListDto> =>
    until(`node(s) ${ids.join(',')} banned`, 60_000, async () => {
      const l = await violations()
      return ids.every((id) => l.bans.some((b) => b.nodeId === id)) ? l : null
    })
  const assertOnlyBanned = (l: ViolationListDto, ids: number[]) => {
    assert.deepEqual(l.bans.map((b) => b.nodeId).sort(), [...ids].sort(), 'no honest node is banned')
    for (const v of l.violations.filter((x) => x.status === 'proven')) {
      assert.ok(ids.includes(v.offender), `proven violation against honest node ${v.offender}: ${JSON.stringify(v)}`)
      assert.ok(!v.accusers.includes(v.offender) && v.accusers.length >= l.minAccusers, `accusers ${v.accusers}`)
    }
  }
  const release = async (ids: number[]) => {
    for (const id of ids) {
      await drill(id, [])
      const u = await unbanVia(id).unban(id)
      assert.equal(u.wasBanned, true)
    }
    await bansLifted()
  }
  const bansLifted = () =>
    until('bans lifted on every node', 30_000, async () => {
      for (const n of ctx.up()) if ((await ctx.client(n).clusterStatus()).bannedNodes.length) return false
      return true
    })
  /** Whatever a drill left behind (a failed assertion included): every drill off, every ban lifted. */
  const reset = async () => {
    for (const id of ctx.up())
      await ctx
        .client(id)
        .setDrill([])
        .catch(() => undefined)
    for (const b of (await violations()).bans) await unbanVia(b.nodeId).unban(b.nodeId)
    await bansLifted()
  }
  /** A drill scenario that always cleans up after itself, so one failure does not spill into the next. */
  const drillIt = (name: string, body: () => Promise<void>): void => {
    it(name, async () => {
      try {
        await body()
      } finally {
        await reset()
      }
    })
  }

  drillIt('Byzantine: node 5 corrupts its ECDSA partial signatures: spends still confirm, node 5 is proven guilty and banned, later spends leave it out', async () => {
    await fund('segwit', [30_000, 30_000])
    // The one-round signature from presignatures is where a partial signature can be checked
    // (and corrupted): make presignatures for a set with node 5 covering every coin.
    const before = await api().presignatureStatus()
    await api().generatePresignatures({ count: before.coverage.utxos + 2, signers: [2, 3, 4, 5] })
    await until('presignatures for signers 2,3,4,5', 6 * 60_000, async () => {
      const s = await api().presignatureStatus()
      return s.generating === 0 && (s.ready['2,3,4,5'] ?? 0) >= before.coverage.utxos ? s : null
    })
    await drill(5, ['corrupt-share'])
    const { sent, violation } = await sendUntilCaught('segwit', 5, 'invalid_signature')
    const caught = sent[sent.length - 1]
    assert.ok(caught.history.filter((h) => h.state === 'signing').length >= 2, 'the first attempt failed, a second one signed')
    assert.ok(!caught.signers?.includes(5), `the spend was finally signed without node 5: ${caught.signers}`)
    assert.equal(violation.evidence.protocol, 'ecdsa')
    const l = await waitBanned([5])
    assertOnlyBanned(l, [5])
    const proven = l.violations.find((v) => v.id === violation.id)!
    assert.equal(proven.status, 'proven')
    assert.ok(proven.accusers.length >= 3, `independent accusers: ${proven.accusers}`)
    const status = await ctx.client(1).clusterStatus()
    assert.deepEqual(status.bannedNodes, [5])
    for (let i = 0; i < 2; i++) {
      const later = await sendOne('segwit')
      assert.ok(!later.signers?.includes(5), 'a banned node is never a signer')
    }
    await release([5])
  })

  drillIt('Byzantine: node 5 corrupts its FROST signature shares: the Taproot spend confirms and node 5 is banned', async () => {
    await fund('taproot', [30_000, 30_000, 30_000])
    await drill(5, ['corrupt-share'])
    const { violation } = await sendUntilCaught('taproot', 5, 'invalid_signature')
    assert.equal(violation.evidence.protocol, 'frost')
    assertOnlyBanned(await waitBanned([5]), [5])
    await release([5])
  })

  drillIt(
    'Byzantine: the LEADER corrupts its FROST signature shares: proven by three honest nodes, banned, loses the lead to an honest node, the spend confirms, no honest node banned',
    async () => {
      await fund('taproot', [30_000, 30_000, 30_000])
      const leader = await ctx.leader()
      await drill(leader, ['corrupt-share'])
      // sendUntilCaught waits for each spend to confirm: the one that caught the leader included.
      const { sent, violation } = await sendUntilCaught('taproot', leader, 'invalid_signature')
      assert.equal(violation.evidence.protocol, 'frost')
      assert.ok(sent[sent.length - 1].txid, 'the spend that caught the leader confirmed')
      const l = await waitBanned([leader])
      assertOnlyBanned(l, [leader])
      const proven = await until(`violation ${violation.id} proven by three honest nodes`, 60_000, async () => {
        const v = (await violations()).violations.find((x) => x.id === violation.id)
        return v?.status === 'proven' && v.accusers.filter((a) => a !== leader).length >= 3 ? v : null
      })
      assert.ok(!proven.accusers.includes(leader))
      // Every node sees the ban (verified on its own) and an honest leader in a new term.
      const statuses = await until(`every node to see node ${leader} banned and another leader`, 60_000, async () => {
        const all = await Promise.all(ctx.up().map((n) => ctx.client(n).clusterStatus()))
        const next = all[0].leader
        return next !== null && next !== leader && all.every((s) => s.leader === next && s.bannedNodes.join() === String(leader)) ? all : null
      })
      const next = statuses[0].leader!
      assert.notEqual(next, leader)
      // The honest leader coordinates the next spend, without the banned node.
      const after = await sendOne('taproot')
      assert.ok(after.signers && !after.signers.includes(leader), `a banned node is never a signer: ${after.signers}`)
      assert.equal((await ctx.client(next).clusterStatus()).leader, next, 'the lead stays with the honest node')
      await release([leader])
    },
  )

  drillIt('Byzantine: node 3 equivocates its vote: double-vote evidence with both signed votes, node 3 banned, no honest node banned', async () => {
    await fund('segwit', [30_000])
    await drill(3, ['equivocate-vote'])
    await sendOne('segwit')
    const l = await until('double vote proven', 60_000, async () => {
      const x = await violations()
      return x.violations.some((v) => v.type === 'double_vote' && v.offender === 3 && v.status === 'proven') ? x : null
    })
    const v = l.violations.find((x) => x.type === 'double_vote' && x.offender === 3)!
    const first = v.evidence.first as { payload: { approve: boolean; nodeId: number } }
    const second = v.evidence.second as { payload: { approve: boolean; nodeId: number } }
    assert.deepEqual([first.payload.nodeId, second.payload.nodeId], [3, 3])
    assert.notEqual(first.payload.approve, second.payload.approve)
    assertOnlyBanned(await waitBanned([3]), [3])
    await release([3])
  })

  drillIt('Byzantine: two colluding nodes approve a spend that breaks policy: rejected, no signature, both proven guilty', async () => {
    await drill(4, ['approve-everything'])
    await drill(5, ['approve-everything'])
    // Node 5 proposes it (a compromised proposer skips its own check); 1, 2 and 3 refuse it.
    const tx = await ctx.client(5).send({ to: ctx.deniedAddress, amountSats: 10_000, feeRate: 2, type: 'segwit' }, randomUUID())
    const done = await until('the proposal rejected', 60_000, async () => {
      const t = await api().transaction(tx.id)
      return t.state === 'rejected' ? t : null
    })
    assert.equal(done.txid, null)
    assert.equal(done.signers, null, 'no signing session was ever started')
    assert.ok(!done.history.some((h) => h.state === 'signing'))
    assert.deepEqual(
      done.votes.filter((v) => v.approve).map((v) => v.nodeId),
      [4, 5],
    )
    await waitBanned([4, 5])
    // A ban needs only the minimum of accusers; wait until every honest node's own check
    // has reached the record too (node 1 may re-verify after the other two already banned).
    const honestAccused = (l: ViolationListDto) =>
      [4, 5].every((offender) => {
        const v = l.violations.find((x) => x.type === 'minority_attack' && x.offender === offender)
        return [1, 2, 3].every((a) => v?.accusers.includes(a))
      })
    const l = await until('every honest node accused both colluders', 60_000, async () => {
      const list = await violations()
      return honestAccused(list) ? list : null
    })
    for (const offender of [4, 5]) {
      const v = l.violations.find((x) => x.type === 'minority_attack' && x.offender === offender)
      assert.ok(v && v.status === 'proven', `minority attack by ${offender} proven`)
      // The three honest nodes re-verified it (the other colluder may co-sign too: its checks are honest).
      assert.deepEqual(
        v.accusers.filter((a) => a <= 3),
        [1, 2, 3],
      )
      assert.ok(!v.accusers.includes(offender))
    }
    assertOnlyBanned(l, [4, 5])
    assert.equal((await api().balance()).wallets.find((w) => w.type === 'segwit')?.reservedSats, 0, 'its coins were released')
    await release([4, 5])
  })

  drillIt('Byzantine: replayed and wrong-session frames from node 5 are refused, proven by the receivers, and node 5 is banned', async () => {
    await fund('taproot', [30_000, 30_000, 30_000])
    await drill(5, ['replay', 'wrong-session'])
    const { violation } = await sendUntilCaught('taproot', 5, 'protocol_violation')
    assert.match(String(violation.evidence.reason), /replay|wrong-session/)
    assertOnlyBanned(await waitBanned([5]), [5])
    await release([5])
    const after = await sendOne('segwit')
    assert.ok(after.txid)
  })

  it('Byzantine: an unknown drill behaviour is refused', async () => {
    await assert.rejects(ctx.client(1).setDrill(['bogus' as DrillBehaviour]), (err: unknown) => err instanceof ApiError && err.status === 400)
  })
}
