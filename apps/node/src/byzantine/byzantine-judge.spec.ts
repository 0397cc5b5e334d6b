import assert from 'node:assert/strict'
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { canonicalJson } from '../common/canonical-json'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository, type LeaderRecord } from '../cluster/etcd.repository'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { ByzantineService, violationId } from './byzantine.service'
import { noConfidenceBody, WalletKeys, type NoConfidenceMark } from '../wallet/wallet.types'
import { ByzantineKeys, type AccusationPayload, type BanRecordWithEvidence, type SignedAccusation, type UnbanRecord, type ViolationRecord } from './byzantine.types'

// Node identities: real Ed25519 keys, one per node (the real service signs with the TLS key).
const keys = new Map<number, { privateKey: KeyObject; publicKey: KeyObject }>()
for (let id = 1; id <= 5; id++) keys.set(id, generateKeyPairSync('ed25519'))
const signAs = (nodeId: number, payload: unknown) => sign(null, Buffer.from(canonicalJson(payload)), keys.get(nodeId)!.privateKey).toString('base64')
const identityOf = (nodeId: number) => ({
  sign: (payload: unknown) => signAs(nodeId, payload),
  verify: async (signer: number, payload: unknown, signature: string) => {
    const k = keys.get(signer)
    return !!k && verify(null, Buffer.from(canonicalJson(payload)), k.publicKey, Buffer.from(signature, 'base64'))
  },
})

interface Node {
  id: number
  etcd: EtcdRepository
  cluster: ClusterService
  byzantine: ByzantineService
  audits: { action: string; details: Record<string, unknown> }[]
}

/** One node's cluster and Byzantine services over real etcd; engine, database and audit faked. */
async function startNode(id: number, endpoints: string[]): Promise<Node> {
  const config = {
    nodeId: id,
    clusterSize: 5,
    threshold: 4,
    api: { advertisedUrl: `http://127.0.0.1:${8080 + id}` },
    quic: { listen: '127.0.0.1:0' },
    byzantine: { banThreshold: 1, minAccusers: 3 },
  } as unknown as AppConfig
  const etcd = new EtcdRepository({ endpoints, leaseTtlSeconds: 5 })
  const engine = { isStarted: true, localAddr: `127.0.0.1:${9000 + id}`, drainEvents: () => [], ban: async () => undefined, unban: () => undefined }
  const db = { isReady: false }
  const audits: Node['audits'] = []
  const audit = { record: async (action: string, details: Record<string, unknown>) => void audits.push({ action, details }) }
  const metrics = new MetricsService({ nodeId: id, threshold: 4 })
  const cluster = new ClusterService(config, etcd, engine as never, db as never, audit as never, metrics)
  const byzantine = new ByzantineService(config, etcd, cluster, engine as never, identityOf(id) as never, db as never, audit as never, metrics)
  // start() registers the ban verifier with the cluster service; the reconciler loop is not
  // wanted here (the test runs each step itself).
  await byzantine.start()
  await byzantine.stop()
  return { id, etcd, cluster, byzantine, audits }
}
const tick = (n: Node) => (n.cluster as unknown as { tick(): Promise<boolean> }).tick()
const judgeStep = (n: Node) => (n.byzantine as unknown as { step(): Promise<void> }).step()

function violation(type: ViolationRecord['type'], offender: number, session: string, reportedAt: string, reportedBy: number): ViolationRecord {
  return { id: violationId(type, offender, session), type, offender, sessionId: session, evidence: { test: true }, reportedBy, reportedAt, status: 'reported', provenAt: null }
}
function accusation(v: ViolationRecord, accuser: number, at: string, signer = accuser): SignedAccusation {
  const payload: AccusationPayload = { violationId: v.id, type: v.type, offender: v.offender, sessionId: v.sessionId, accuser, at }
  return { payload, signature: signAs(signer, payload) }
}

function unbanRecord(nodeId: number, unbannedAt: string, signedBy: number, signer = signedBy): UnbanRecord {
  const body: Omit<UnbanRecord, 'signature'> = { nodeId, unbannedAt, by: 'test', signedBy }
  return { ...body, signature: signAs(signer, body) }
}

describe('every node judges; bans are verified, not trusted; a banned leader loses the lead', () => {
  let etcdCluster: EtcdCluster
  let admin: EtcdRepository
  const nodes = new Map<number, Node>()

  before(async () => {
    etcdCluster = await startEtcdCluster(1)
    admin = new EtcdRepository({ endpoints: etcdCluster.endpoints, leaseTtlSeconds: 5 })
    // Node 1 ticks first, so it leads.
    for (const id of [1, 2, 3]) {
      const n = await startNode(id, etcdCluster.endpoints)
      nodes.set(id, n)
      await tick(n)
    }
    for (const n of nodes.values()) await tick(n)
  })
  after(async () => {
    for (const n of nodes.values()) {
      await n.etcd.revokeSession()
      await n.etcd.close()
    }
    await admin?.close()
    await etcdCluster?.stop()
  })

  it('a violation by the LEADER (node 1) accused by 2, 3, 4 is proven and node 1 banned by a non-leader step; node 1 loses the lead', async () => {
    const [n1, n2, n3] = [nodes.get(1)!, nodes.get(2)!, nodes.get(3)!]
    assert.equal(n1.cluster.isLeader, true, 'node 1 leads')
    assert.equal(n2.cluster.isLeader, false)
    const now = new Date().toISOString()
    const v = violation('invalid_signature', 1, 'tx-leader.1', now, 2)
    await admin.putIfAbsent(ByzantineKeys.violation(v.id), v)
    for (const a of [2, 3, 4]) await admin.putIfAbsent(ByzantineKeys.accusation(v.id, a), accusation(v, a, now))

    await judgeStep(n2) // node 2 follows: its own step proves and bans
    const proven = await admin.get<ViolationRecord>(ByzantineKeys.violation(v.id))
    assert.equal(proven?.value.status, 'proven')
    const ban = await admin.get<BanRecordWithEvidence>(EtcdKeys.ban(1))
    assert.deepEqual(ban?.value.violations, [v.id])
    assert.ok(n2.audits.some((a) => a.action === 'byzantine.proven' && a.details.offender === 1))
    assert.equal(n2.audits.filter((a) => a.action === 'node.banned').length, 1, 'node 2 wrote the ban and audited it')

    // Idempotent: another node's step writes nothing again (and audits nothing).
    await judgeStep(n3)
    assert.equal((await admin.get(EtcdKeys.ban(1)))?.modRevision, ban?.modRevision)
    assert.equal(n3.audits.filter((a) => a.action === 'node.banned').length, 0)

    // Node 2 verifies the ban, ends node 1's term and campaigns; node 1 does not campaign again.
    const oldTerm = n1.cluster.leaderTerm!
    await tick(n2)
    assert.deepEqual(n2.cluster.bannedNodes(), [1])
    assert.ok(n2.audits.some((a) => a.action === 'leader.deposed' && a.details.nodeId === 1 && a.details.term === oldTerm))
    const leader = await admin.getLeader()
    assert.equal(leader?.nodeId, 2, 'an honest node took the lead')
    assert.notEqual(leader?.term, oldTerm)
    await tick(n1)
    assert.equal(n1.cluster.isLeader, false)
    assert.deepEqual(n1.cluster.bannedNodes(), [1])
    assert.deepEqual(
      (await n3.byzantine.list()).bans.map((b) => b.nodeId),
      [1],
    )

    // A banned node never campaigns: with nobody leading, node 1's step leaves it vacant.
    await admin.delete(EtcdKeys.leader)
    await tick(n1)
    assert.equal(await admin.getLeader(), null)
    await tick(n3)
    assert.equal((await admin.getLeader())?.nodeId, 3)
    for (const n of [n1, n2]) await tick(n)
  })

  it('a deposing follower never ends a newer term than the one it saw banned', async () => {
    const n3 = nodes.get(3)!
    const leader = (await admin.getLeader()) as LeaderRecord
    assert.equal(await n3.etcd.deleteIfCreateRevision(EtcdKeys.leader, String(BigInt(leader.term) - 1n)), false)
    assert.equal((await admin.getLeader())?.term, leader.term)
  })

  it('a forged ban of an honest node (no valid accusations) is not honoured anywhere', async () => {
    const [n2, n3] = [nodes.get(2)!, nodes.get(3)!]
    const now = new Date().toISOString()
    // A violation against node 5 with one real accusation (node 4) and two forged ones
    // (node 4's signature under nodes 2 and 3's keys), and a ban with no evidence at all for node 4.
    const v = violation('invalid_signature', 5, 'tx-forged.1', now, 4)
    await admin.putIfAbsent(ByzantineKeys.violation(v.id), v)
    await admin.putIfAbsent(ByzantineKeys.accusation(v.id, 4), accusation(v, 4, now))
    for (const a of [2, 3]) await admin.putIfAbsent(ByzantineKeys.accusation(v.id, a), accusation(v, a, now, 4))
    await admin.put(EtcdKeys.ban(5), { nodeId: 5, reason: 'forged', bannedAt: now, violations: [v.id] } satisfies BanRecordWithEvidence)
    await admin.put(EtcdKeys.ban(4), { nodeId: 4, reason: 'forged', bannedAt: now, violations: [] } satisfies BanRecordWithEvidence)
    await admin.put(EtcdKeys.ban(3), { nodeId: 3, reason: 'forged', bannedAt: now } as unknown as BanRecordWithEvidence)
    for (const n of [n2, n3]) {
      await judgeStep(n)
      await tick(n)
      assert.deepEqual(n.cluster.bannedNodes(), [1], `node ${n.id} honours only the proven ban`)
      assert.deepEqual((await n.cluster.status()).bannedNodes, [1])
      assert.deepEqual(
        (await n.byzantine.list()).bans.map((b) => b.nodeId),
        [1],
      )
    }
    assert.equal((await admin.get<ViolationRecord>(ByzantineKeys.violation(v.id)))?.value.status, 'reported', 'forged accusations prove nothing')
    assert.equal((await admin.getLeader())?.nodeId, 3, 'node 3 (named in a forged ban) keeps the lead')
    const metrics = await n2.cluster['metrics'].render()
    assert.match(metrics, /^mpc_unverified_bans_total\{[^}]*node="4"[^}]*\} 1$/m)
    for (const id of [3, 4, 5]) await admin.delete(EtcdKeys.ban(id))
  })

  it('a ban whose violations predate the last unban is not honoured (and not written again)', async () => {
    const [n2, n3] = [nodes.get(2)!, nodes.get(3)!]
    const old = new Date(Date.now() - 60_000).toISOString()
    const v = violation('protocol_violation', 4, 'replay:tx-old', old, 1)
    await admin.putIfAbsent(ByzantineKeys.violation(v.id), v)
    for (const a of [1, 2, 3]) await admin.putIfAbsent(ByzantineKeys.accusation(v.id, a), accusation(v, a, old))
    await admin.put(ByzantineKeys.unban(4), unbanRecord(4, new Date(Date.now() - 30_000).toISOString(), 2))
    await judgeStep(n2)
    assert.equal(await admin.get(EtcdKeys.ban(4)), null, 'evidence cleared by the unban bans nobody')
    await admin.put(EtcdKeys.ban(4), { nodeId: 4, reason: 'replayed', bannedAt: new Date().toISOString(), violations: [v.id] } satisfies BanRecordWithEvidence)
    for (const n of [n2, n3]) {
      await tick(n)
      assert.deepEqual(n.cluster.bannedNodes(), [1], `node ${n.id} ignores the stale ban`)
      assert.deepEqual(
        (await n.byzantine.list()).bans.map((b) => b.nodeId),
        [1],
      )
    }
    // A violation reported after the unban counts again: the stale record is replaced by a valid ban.
    const now = new Date().toISOString()
    const fresh = violation('protocol_violation', 4, 'replay:tx-new', now, 1)
    await admin.putIfAbsent(ByzantineKeys.violation(fresh.id), fresh)
    for (const a of [1, 2, 3]) await admin.putIfAbsent(ByzantineKeys.accusation(fresh.id, a), accusation(fresh, a, now))
    await judgeStep(n3)
    assert.deepEqual((await admin.get<BanRecordWithEvidence>(EtcdKeys.ban(4)))?.value.violations, [fresh.id])
    await tick(n2)
    assert.deepEqual(n2.cluster.bannedNodes(), [1, 4])
  })

  it('an unban not signed by another node lifts nothing: the ban is written again; one signed through another node lifts it', async () => {
    const [n2, n3] = [nodes.get(2)!, nodes.get(3)!]
    const now = new Date().toISOString()
    const v = violation('invalid_signature', 5, 'tx-unban.1', now, 2)
    await admin.putIfAbsent(ByzantineKeys.violation(v.id), v)
    for (const a of [1, 2, 3]) await admin.putIfAbsent(ByzantineKeys.accusation(v.id, a), accusation(v, a, now))
    await judgeStep(n2)
    assert.deepEqual((await admin.get<BanRecordWithEvidence>(EtcdKeys.ban(5)))?.value.violations, [v.id])

    const later = new Date(Date.now() + 1000).toISOString()
    const forged: UnbanRecord[] = [
      { nodeId: 5, unbannedAt: later, by: 'etcd writer' } as UnbanRecord, // unsigned, as before this check
      unbanRecord(5, later, 5), // the banned node's own word
      unbanRecord(5, later, 2, 5), // names node 2, signed by node 5
    ]
    for (const unban of forged) {
      await admin.delete(EtcdKeys.ban(5))
      await admin.put(ByzantineKeys.unban(5), unban)
      await judgeStep(n3)
      assert.deepEqual((await admin.get<BanRecordWithEvidence>(EtcdKeys.ban(5)))?.value.violations, [v.id], `still banned after ${JSON.stringify(unban)}`)
      await tick(n2)
      assert.ok(n2.cluster.bannedNodes().includes(5))
      assert.notEqual((await n2.byzantine.list()).violations.find((x) => x.id === v.id)?.status, 'cleared')
    }
    assert.ok(n3.audits.some((a) => a.action === 'node.unban_refused' && a.details.nodeId === 5))

    await assert.rejects(n2.byzantine.unban(2, 'test'), (e: Error & { code?: string }) => e.code === 'CONFLICT' && /through another node/.test(e.message))
    const lifted = await n3.byzantine.unban(5, 'test')
    assert.equal(lifted.wasBanned, true)
    const record = (await admin.get<UnbanRecord>(ByzantineKeys.unban(5)))!.value
    assert.equal(record.signedBy, 3)
    await judgeStep(n2)
    assert.equal(await admin.get(EtcdKeys.ban(5)), null, 'a signed unban clears the evidence before it')
    await tick(n2)
    assert.ok(!n2.cluster.bannedNodes().includes(5))
    assert.equal((await n2.byzantine.list()).violations.find((x) => x.id === v.id)?.status, 'cleared')
  })
})

describe('a live leader that stalls sends loses the lead to a quorum of signed no-confidence marks (never an accusation)', () => {
  let etcdCluster: EtcdCluster
  let admin: EtcdRepository
  const nodes = new Map<number, Node>()
  const mark = (term: string, leader: number, by: number, signer = by): NoConfidenceMark => {
    const body: NoConfidenceMark = {
      term,
      leader,
      nodeId: by,
      txId: 'tx-stalled',
      state: 'approved',
      reason: 'an approved send got no signing attempt',
      at: new Date().toISOString(),
    }
    return { ...body, signature: signAs(signer, noConfidenceBody(body)) }
  }

  before(async () => {
    etcdCluster = await startEtcdCluster(1)
    admin = new EtcdRepository({ endpoints: etcdCluster.endpoints, leaseTtlSeconds: 5 })
    for (const id of [1, 2, 3]) {
      const n = await startNode(id, etcdCluster.endpoints)
      nodes.set(id, n)
      await tick(n)
    }
    for (const n of nodes.values()) await tick(n)
  })
  after(async () => {
    for (const n of nodes.values()) {
      await n.etcd.revokeSession()
      await n.etcd.close()
    }
    await admin?.close()
    await etcdCluster?.stop()
  })

  it('two marks (or a forged third) keep the leader; three valid marks end its term, an honest node leads and the stalled one stands down', async () => {
    const [n1, n2, n3] = [nodes.get(1)!, nodes.get(2)!, nodes.get(3)!]
    assert.equal(n1.cluster.isLeader, true, 'node 1 leads')
    const term = n1.cluster.leaderTerm!
    await admin.put(WalletKeys.noConfidence(term, 2), mark(term, 1, 2))
    await admin.put(WalletKeys.noConfidence(term, 3), mark(term, 1, 3))
    // Node 4's mark signed by node 3 (an etcd writer), and node 5's against another term: not counted.
    await admin.put(WalletKeys.noConfidence(term, 4), mark(term, 1, 4, 3))
    await admin.put(WalletKeys.noConfidence(term, 5), mark(String(BigInt(term) - 1n), 1, 5))
    for (const n of [n2, n3, n1]) await tick(n)
    assert.equal((await admin.getLeader())?.term, term, 'two valid marks do not end a term')

    await admin.put(WalletKeys.noConfidence(term, 4), mark(term, 1, 4))
    await tick(n2)
    const leader = await admin.getLeader()
    assert.equal(leader?.nodeId, 2, 'node 2 ended the term and took the lead')
    assert.notEqual(leader?.term, term)
    const deposed = n2.audits.find((a) => a.action === 'leader.deposed')
    assert.equal(deposed?.details.nodeId, 1)
    assert.equal(deposed?.details.term, term)
    assert.deepEqual(deposed?.details.marks, [2, 3, 4])
    assert.match(String(deposed?.details.reason), /no confidence/)
    assert.deepEqual(n2.cluster.bannedNodes(), [], 'nobody banned')
    assert.deepEqual((await n2.byzantine.list()).violations, [], 'nobody accused')

    // Node 1 sees its term ended by no-confidence and does not campaign for a while.
    await tick(n1)
    for (let i = 0; i < 100 && (n1.cluster as unknown as { standDownUntil: number }).standDownUntil === 0; i++) await new Promise((r) => setTimeout(r, 20))
    await admin.delete(EtcdKeys.leader)
    await tick(n1)
    assert.equal(await admin.getLeader(), null, 'the stalled node does not campaign')
    await tick(n3)
    assert.equal((await admin.getLeader())?.nodeId, 3)
  })
})
