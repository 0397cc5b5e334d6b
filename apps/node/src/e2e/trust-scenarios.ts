import { ApiError, type DrillBehaviour, type TransactionDto } from '@tw/api'
import { buildUnsignedTransaction, parseAddress } from '@tw/bitcoin'
import { Etcd3 } from 'etcd3'
import assert from 'node:assert/strict'
import { randomUUID, sign as signWithKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { it } from 'node:test'
import { EtcdKeys } from '../cluster/etcd.repository'
import { canonicalJson } from '../common/canonical-json'
import { until as poll } from '../testing/until'
import { attemptBody } from '../wallet/leader-decision'
import { WalletKeys, type SignedVote, type SigningAttempt, type SigningResult, type TxRecord } from '../wallet/wallet.types'
import { testAddress, walletHelpers, type WalletScenarioContext } from './wallet-scenarios'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 500)

/**
 * The trust model on the real five-node cluster (DESIGN §5 "trust model", security-tests C7):
 * an attacker holding one node's etcd access and that node's identity key (node 5, compromised)
 * rewrites what the honest nodes read from etcd. Nothing it writes may make an honest node
 * sign, and no honest node may be accused for it. Also: a node killed and restarted in the
 * middle of a signing session is a fault, never a violation.
 */
export function trustScenarios(ctx: WalletScenarioContext): void {
  const { api, chainPost, chainGet, mine } = walletHelpers(ctx)
  const etcd = () => new Etcd3({ hosts: ctx.cluster().etcd.endpoints })
  const getJson = async <T>(client: Etcd3, key: string): Promise<T | null> => {
    const s = await client.get(key).string()
    return s === null ? null : (JSON.parse(s) as T)
  }
  /** The values at `keyOf(node)` for each node that has one (each node's own partition). */
  const perNode = async <T>(client: Etcd3, keyOf: (node: number) => string, nodes: number[]): Promise<T[]> =>
    (await Promise.all(nodes.map((n) => getJson<T>(client, keyOf(n))))).filter((v): v is Awaited<T> => v !== null) as T[]
  /** A statement signed with node `id`'s identity (TLS) key, as a compromised node would sign it. */
  const signAs = (id: number, payload: unknown) =>
    signWithKey('sha256', Buffer.from(canonicalJson(payload)), readFileSync(path.join(ctx.cluster().dir, 'certs', `node-${id}.key`), 'utf8')).toString('base64')
  const drill = (id: number, behaviours: DrillBehaviour[]) => ctx.client(id).setDrill(behaviours)
  const waitState = (id: string, states: string[], ms = 4 * 60_000) =>
    until(`transaction ${id} ${states.join('|')}`, ms, async () => {
      const t = await api().transaction(id)
      if (['rejected', 'failed', 'expired'].includes(t.state) && !states.includes(t.state)) assert.fail(`transaction ended ${t.state}: ${JSON.stringify(t.error)}`)
      return states.includes(t.state) ? t : null
    })
  /** Fresh Taproot coins at fresh wallet addresses, confirmed: [address, txid, vout, value]. */
  const coins = async (amounts: number[]) => {
    const out: { address: string; path: number[]; txid: string; vout: number; value: number }[] = []
    for (const amountSats of amounts) {
      const a = await api().address('taproot')
      await chainPost('/regtest/faucet', { address: a.address, amountSats })
      out.push({ address: a.address, path: a.path.split('/').slice(1).map(Number), txid: '', vout: 0, value: amountSats })
    }
    await mine(1)
    for (const c of out) {
      const [u] = await chainGet<{ txid: string; vout: number; value: number }[]>(`/address/${c.address}/utxo`)
      Object.assign(c, { txid: u.txid, vout: u.vout })
    }
    await until('the wallet sees its new coins', 30_000, async () => {
      const b = await api().balance()
      return (b.wallets.find((w) => w.type === 'taproot')?.confirmedSats ?? 0) >= amounts.reduce((x, y) => x + y, 0)
    })
    return out
  }
  const unspent = async (c: { txid: string; vout: number }) => !(await chainGet<{ spent: boolean }>(`/tx/${c.txid}/outspend/${c.vout}`)).spent
  /** Violations on record now (earlier scenarios' drills leave theirs behind). */
  const known = async () => new Set((await api().violations()).violations.map((v) => v.id))
  /** No violation since `before` names an honest node (`honest`), and nobody is banned. */
  const noHonestAccused = async (before: Set<string>, honest: number[]) => {
    const l = await api().violations()
    const against = l.violations.filter((v) => !before.has(v.id) && honest.includes(v.offender))
    assert.deepEqual(
      against.map((v) => `${v.type} by ${v.offender}`),
      [],
      `no honest node accused: ${JSON.stringify(against.map((v) => ({ accusers: v.accusers, evidence: v.evidence })))}`,
    )
    // The compromised node may be proven and banned for what it wrote (its signed attempts are evidence); no honest one.
    assert.deepEqual(
      l.bans.filter((b) => honest.includes(b.nodeId)).map((b) => b.nodeId),
      [],
      'no honest node banned',
    )
  }
  const sendConfirmed = async (amountSats = 10_000): Promise<TransactionDto> => {
    const tx = await api().send({ to: testAddress(), amountSats, feeRate: 2, type: 'taproot' }, randomUUID())
    await waitState(tx.id, ['broadcast', 'confirmed'])
    await mine(1)
    return waitState(tx.id, ['confirmed'])
  }

  it('trust: a finished send rewritten in etcd to pay out another wallet coin, with a signing attempt signed by compromised node 5: no honest node signs, the coin stays', async () => {
    const before = await known()
    const [a, b] = await coins([40_000, 40_000])
    const sent = await sendConfirmed()
    const target = (await unspent(a)) ? a : b
    assert.ok(await unspent(target), 'one of the two coins is still the wallet’s')
    const client = etcd()
    try {
      const key = WalletKeys.tx(sent.id)
      const original = (await getJson<TxRecord>(client, key))!
      // The attacker's transaction: the other coin, all of it (less a fee) to its own address.
      const thief = testAddress()
      const thiefScript = parseAddress(thief, 'regtest').scriptPubKey
      const input = {
        txid: target.txid,
        vout: target.vout,
        value: target.value,
        scriptPubKey: Buffer.from(parseAddress(target.address, 'regtest').scriptPubKey).toString('hex'),
        path: target.path,
      }
      const unsignedTx = buildUnsignedTransaction({
        inputs: [{ ...input, scriptPubKey: Buffer.from(input.scriptPubKey, 'hex'), keyType: 'taproot' }],
        outputs: [{ scriptPubKey: thiefScript, value: target.value - 500 }],
        locktime: 0,
        rbf: true,
      })
      const n = original.attempt + 1
      const rewritten: TxRecord = {
        ...original,
        to: thief,
        amountSats: target.value - 500,
        inputs: [input],
        outputs: [{ scriptPubKey: Buffer.from(thiefScript).toString('hex'), address: thief, value: target.value - 500, change: false }],
        unsignedTx,
        // proposalHash left as it was: the hash the four honest approvals signed.
        state: 'signing',
        attempt: n,
        signers: [1, 2, 3, 4],
      }
      // The attempt carries the genuine approvals of the original proposal and is signed by node 5.
      const approvals = (await perNode<SignedVote>(client, (id) => WalletKeys.vote(sent.id, id), [1, 2, 3, 4])).filter((v) => v.payload.approve)
      assert.equal(approvals.length, 4, 'the original proposal had four honest approvals')
      const body: SigningAttempt = {
        txId: sent.id,
        attempt: n,
        signers: [1, 2, 3, 4],
        mode: 'frost',
        presignatures: [null],
        createdAt: new Date().toISOString(),
        term: (await api().clusterStatus()).leaderTerm ?? '0',
        proposalHash: original.proposalHash,
        leader: 5,
        approvals,
      }
      await client.put(WalletKeys.attempt(sent.id, n)).value(JSON.stringify({ ...body, signature: signAs(5, attemptBody(body)) }))
      await client.put(key).value(JSON.stringify(rewritten))

      // Every honest signer answers, and every answer is a refusal.
      const results = await until('nodes 1–4 to answer the forged attempt', 60_000, async () => {
        const rs = await perNode<SigningResult>(client, (id) => WalletKeys.result(sent.id, n, id), [1, 2, 3, 4])
        return rs.length >= 4 ? rs : null
      })
      for (const r of results) {
        assert.equal(r.ok, false, `node ${r.nodeId} signed the rewritten record`)
        assert.ok(!r.ok && ['FINISHED', 'PROPOSAL_CHANGED'].includes(r.code), `node ${r.nodeId}: ${JSON.stringify(r)}`)
      }
      await mine(1)
      assert.ok(await unspent(target), 'the coin never left the wallet')
      await noHonestAccused(before, [1, 2, 3, 4, 5])
      // Put the record back as the cluster wrote it.
      await client.put(key).value(JSON.stringify(original))
    } finally {
      client.close()
    }
  })

  it('trust: the etcd-tamper drill on node 5 rewrites every finished send and posts attempts: nobody signs, nothing moves, every honest signer refuses', async () => {
    const before = await known()
    await coins([40_000])
    await drill(5, ['etcd-tamper'])
    const client = etcd()
    try {
      const sent = await sendConfirmed()
      // Node 5 sees it confirmed, rewrites it and posts the next attempt for nodes 1–4.
      const n = sent.history.filter((h) => h.state === 'signing').length + 1
      const results = await until('nodes 1–4 to answer node 5’s attempt', 60_000, async () => {
        const rs = await perNode<SigningResult>(client, (id) => WalletKeys.result(sent.id, n, id), [1, 2, 3, 4])
        return rs.length >= 4 ? rs : null
      })
      for (const r of results) assert.ok(!r.ok && ['FINISHED', 'PROPOSAL_CHANGED'].includes(r.code), `node ${r.nodeId}: ${JSON.stringify(r)}`)
      for (const i of sent.inputs) {
        const spend = await chainGet<{ spent: boolean; txid?: string }>(`/tx/${i.txid}/outspend/${i.vout}`)
        assert.deepEqual([spend.spent, spend.txid], [true, sent.txid], 'its coins were spent once, by the approved transaction')
      }
      const refused = await ctx.client(1).metrics()
      assert.match(refused, /^mpc_signing_refused_total\{[^}]*code="(FINISHED|PROPOSAL_CHANGED)"[^}]*\} [1-9]/m)
      await noHonestAccused(before, [1, 2, 3, 4])
    } finally {
      client.close()
      await drill(5, []).catch(() => undefined)
    }
  })

  it('trust: an attempt without its quorum, signed by compromised node 5, for a finished send: every signer refuses and accuses node 5 with the attempt as evidence; node 5 is proven and banned', async () => {
    await coins([40_000])
    const sent = await sendConfirmed()
    const client = etcd()
    try {
      const key = WalletKeys.tx(sent.id)
      const original = (await getJson<TxRecord>(client, key))!
      const n = original.attempt + 1
      // Node 5 decides on three approvals (its own missing, node 4's left out) and names 1–4.
      const approvals = await perNode<SignedVote>(client, (id) => WalletKeys.vote(sent.id, id), [1, 2, 3])
      const body: SigningAttempt = {
        txId: sent.id,
        attempt: n,
        signers: [1, 2, 3, 4],
        mode: 'frost',
        presignatures: original.inputs.map(() => null),
        createdAt: new Date().toISOString(),
        term: '0',
        proposalHash: original.proposalHash,
        leader: 5,
        approvals,
      }
      await client.put(WalletKeys.attempt(sent.id, n)).value(JSON.stringify({ ...body, signature: signAs(5, attemptBody(body)) }))
      await client.put(key).value(JSON.stringify({ ...original, state: 'signing', attempt: n, signers: [1, 2, 3, 4] }))
      const results = await until('nodes 1–4 to refuse', 60_000, async () => {
        const rs = await perNode<SigningResult>(client, (id) => WalletKeys.result(sent.id, n, id), [1, 2, 3, 4])
        return rs.length >= 4 ? rs : null
      })
      for (const r of results) assert.ok(!r.ok && r.code === 'BAD_ATTEMPT', `node ${r.nodeId}: ${JSON.stringify(r)}`)
      const l = await until('node 5 proven and banned for its decision', 60_000, async () => {
        const x = await api().violations()
        const v = x.violations.find((y) => y.type === 'invalid_decision' && y.offender === 5 && y.status === 'proven')
        return v && x.bans.some((b) => b.nodeId === 5) ? { x, v } : null
      })
      assert.ok(l.v.accusers.filter((a) => a <= 4).length >= 3, `accusers ${l.v.accusers}`)
      assert.equal((l.v.evidence.attempt as SigningAttempt).leader, 5, 'the evidence is the signed attempt itself')
      assert.deepEqual(
        l.x.bans.map((b) => b.nodeId),
        [5],
        'no honest node banned',
      )
      await client.put(key).value(JSON.stringify(original))
    } finally {
      client.close()
      const u = await api()
        .unban(5)
        .catch(() => null)
      if (u)
        await until('the ban lifted everywhere', 30_000, async () =>
          (await Promise.all(ctx.up().map((id) => ctx.client(id).clusterStatus()))).every((st) => st.bannedNodes.length === 0),
        )
    }
  })

  it("trust: the Taproot key record rewritten in etcd (another public key): no node hands out an address from it (KEY_RECORD_MISMATCH), and once restored the addresses are the share's again", async () => {
    const client = etcd()
    try {
      const keyId = (await api().listKeys()).keys.find((k) => k.protocol === 'schnorr' && k.status === 'active')!.id
      const key = EtcdKeys.key(keyId)
      const original = (await getJson<Record<string, unknown>>(client, key))!
      const before = (await api().descriptors()).descriptors.find((d) => d.type === 'taproot')
      // An attacker's key (BIP32 test vector 2's master public key): every deposit would go to it.
      await client.put(key).value(JSON.stringify({ ...original, publicKey: '03cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a7' }))
      for (const id of ctx.up()) {
        await assert.rejects(ctx.client(id).address('taproot'), (err: unknown) => err instanceof ApiError && err.code === 'KEY_RECORD_MISMATCH', `node ${id}`)
      }
      assert.match(await ctx.client(1).metrics(), /^mpc_key_record_mismatch\{[^}]*key_id="[^"]+"[^}]*\} 1$/m)
      await client.put(key).value(JSON.stringify(original))
      const after = (await api().descriptors()).descriptors.find((d) => d.type === 'taproot')
      assert.deepEqual(after, before, "the descriptors are the share's, as before")
      assert.match((await api().address('taproot')).address, /^bcrt1p/)
    } finally {
      client.close()
    }
  })

  it('trust: a Taproot key record inserted in etcd for a key no node holds, older than the real one: every node still hands out addresses of the key it holds, and reports the record', async () => {
    const client = etcd()
    const fake = EtcdKeys.key(`inserted-${randomUUID()}`)
    try {
      const real = (await api().listKeys()).keys.find((k) => k.protocol === 'schnorr' && k.status === 'active')!
      const original = (await getJson<Record<string, unknown>>(client, EtcdKeys.key(real.id)))!
      const old = '2020-01-01T00:00:00.000Z'
      await client.put(fake).value(
        JSON.stringify({
          ...original,
          keyId: fake.split('/').pop(),
          publicKey: '03cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a7',
          createdAt: old,
          activatedAt: old,
        }),
      )
      for (const id of ctx.up()) {
        const a = await ctx.client(id).address('taproot')
        assert.equal(a.keyId, real.id, `node ${id} hands out an address of the key it holds`)
      }
      for (const id of ctx.up()) {
        assert.match(
          ctx.cluster().log(id),
          new RegExp(`key record ${fake.split('/').pop()} in etcd names a schnorr key this node holds no share of: passed over`),
          `node ${id} logs it`,
        )
      }
    } finally {
      await client.delete().key(fake)
      client.close()
    }
  })

  it('trust: the genuine signing attempt of a finished send replayed (its results deleted, the record set back to signing): no honest node signs again', async () => {
    const before = await known()
    await coins([40_000])
    const sent = await sendConfirmed()
    const client = etcd()
    try {
      const key = WalletKeys.tx(sent.id)
      const original = (await getJson<TxRecord>(client, key))!
      const n = original.attempt
      const attemptKey = WalletKeys.attempt(sent.id, n)
      const genuine = (await client.get(attemptKey).string())!
      const signers = (JSON.parse(genuine) as SigningAttempt).signers
      // The replay: the same signed bytes written again, every signer's result gone, the record back in signing.
      for (const id of signers) await client.delete().key(WalletKeys.result(sent.id, n, id))
      await client.put(key).value(JSON.stringify({ ...original, state: 'signing' }))
      await client.put(attemptKey).value(genuine)
      // Bounded wait: whatever the signers write back is a refusal, never a signature.
      await new Promise((r) => setTimeout(r, 15_000))
      const results = await perNode<SigningResult>(client, (id) => WalletKeys.result(sent.id, n, id), signers)
      for (const r of results) assert.ok(!r.ok && ['FINISHED', 'RESTARTED', 'BAD_ATTEMPT'].includes(r.code), `node ${r.nodeId} answered the replay: ${JSON.stringify(r)}`)
      for (const i of sent.inputs) {
        const spend = await chainGet<{ spent: boolean; txid?: string }>(`/tx/${i.txid}/outspend/${i.vout}`)
        assert.deepEqual([spend.spent, spend.txid], [true, sent.txid], 'its coins were spent once, by the approved transaction')
      }
      await noHonestAccused(before, [1, 2, 3, 4, 5])
      await client.put(key).value(JSON.stringify(original))
    } finally {
      client.close()
    }
  })

  it('trust: a ban written straight into etcd (no evidence) is honoured by no node', async () => {
    const client = etcd()
    try {
      await client.put(EtcdKeys.ban(2)).value(JSON.stringify({ nodeId: 2, reason: 'forged', bannedAt: new Date().toISOString(), violations: [] }))
      // Every node reads bans each second; give them a few.
      await new Promise((r) => setTimeout(r, 4000))
      for (const id of ctx.up()) assert.deepEqual((await ctx.client(id).clusterStatus()).bannedNodes, [], `node ${id}`)
      assert.deepEqual((await api().violations()).bans, [])
      const tx = await sendConfirmed()
      assert.ok(tx.txid, 'sends go on (node 2 included in the rotation)')
    } finally {
      await client.delete().key(EtcdKeys.ban(2))
      client.close()
    }
  })

  it('trust: node 3’s vote deleted and the record rewritten under it: node 3 publishes the same signed vote again, nobody is accused, the send confirms', async () => {
    const before = await known()
    await coins([40_000])
    // Nodes 4 and 5 hold back (drill): three approvals keep the send in voting.
    await drill(4, ['drop'])
    await drill(5, ['drop'])
    const client = etcd()
    try {
      const tx = await api().send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'taproot' }, randomUUID())
      const voteKey = WalletKeys.vote(tx.id, 3)
      const first = await until('node 3 votes', 30_000, () => getJson<SignedVote>(client, voteKey))
      assert.equal(first.payload.approve, true)
      const key = WalletKeys.tx(tx.id)
      const original = (await getJson<TxRecord>(client, key))!
      // Rewritten (another amount) and node 3's vote deleted: a new vote would be a genuine double vote.
      await client.put(key).value(JSON.stringify({ ...original, amountSats: original.amountSats + 1 }))
      await client.delete().key(voteKey)
      const again = await until('node 3’s vote back', 30_000, () => getJson<SignedVote>(client, voteKey))
      assert.deepEqual(again, first, 'the same signed bytes, not a new vote')
      await client.put(key).value(JSON.stringify(original))
      await drill(4, [])
      await drill(5, [])
      await waitState(tx.id, ['broadcast', 'confirmed'])
      await mine(1)
      await waitState(tx.id, ['confirmed'])
      await noHonestAccused(before, [1, 2, 3, 4, 5])
    } finally {
      client.close()
      await drill(4, []).catch(() => undefined)
      await drill(5, []).catch(() => undefined)
    }
  })

  it('trust: a signer killed (SIGKILL) and restarted in the middle of a signing session is never accused or banned; the send confirms', async () => {
    const before = await known()
    const leader = await ctx.leader()
    await coins([40_000, 40_000, 40_000])
    // Every node but the leader and one other waits a moment before it joins a session, so the
    // session is open while that one other node dies and comes back.
    const others = ctx.up().filter((id) => id !== leader)
    for (let round = 0; round < 3; round++) {
      const victim = others[round % others.length]
      const slow = others.filter((id) => id !== victim)
      for (const id of slow) await drill(id, ['delay'])
      try {
        const tx = await api().send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'taproot' }, randomUUID())
        const signing = await waitState(tx.id, ['signing', 'signed', 'broadcast', 'confirmed'], 60_000)
        if (signing.state !== 'signing' || !signing.signers?.includes(victim)) {
          await waitState(tx.id, ['broadcast', 'confirmed'])
          continue
        }
        // The victim started its session at once (its first messages are out) while the slow
        // signers wait their 3 s: kill it now and bring it back.
        await new Promise((r) => setTimeout(r, 300))
        const logBefore = ctx.cluster().log(victim).length
        ctx.cluster().node(victim).proc?.kill('SIGKILL')
        ctx.restarted(victim)
        await until(`node ${victim} gone`, 10_000, async () => ctx.cluster().node(victim).proc === null)
        ctx.cluster().start(victim)
        await until(
          `node ${victim} back`,
          60_000,
          async () =>
            (
              await ctx
                .client(victim)
                .health('ready')
                .catch(() => ({ status: 'down' }))
            ).status === 'ok',
        )
        for (const id of slow) await drill(id, [])
        await waitState(tx.id, ['broadcast', 'confirmed'], 5 * 60_000)
        await mine(1)
        const done = await waitState(tx.id, ['confirmed'])
        assert.match(done.txid ?? '', /^[0-9a-f]{64}$/)
        // Give the signers' accusations (if any) time to land before checking there are none.
        await new Promise((r) => setTimeout(r, 3000))
        await noHonestAccused(before, [1, 2, 3, 4, 5])
        // Its second life did not rejoin the session it had started: it reported the attempt missed.
        const after = ctx.cluster().log(victim).slice(logBefore)
        assert.doesNotMatch(after, /PEER_MISBEHAVED/)
        return
      } finally {
        for (const id of slow) await drill(id, []).catch(() => undefined)
      }
    }
    assert.fail('the chosen node was never a signer in three sends')
  })
}
