import { ApiClient, ApiError, type ClusterStatusDto, type KeyDto } from '@tw/api'
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { NodeCluster } from '../testing/node-cluster'
import { until as poll } from '../testing/until'
import { byzantineScenarios } from './byzantine-scenarios'
import { trustScenarios } from './trust-scenarios'
import { eventScenarios } from './events-scenarios'
import { walletScenarios } from './wallet-scenarios'
import { recoveryScenarios } from './recovery-scenarios'
import { deriveEcdsaChild, segwitAddress } from '@tw/bitcoin'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 500)

// Five node processes, one etcd, one PostgreSQL database, the embedded regtest chain. Aux info
// (ECDSA) dominates the run time (minutes of CPU on two cores) and happens once, in the
// background after the cluster forms; the wallet scenarios reuse the keys made here.

// A regtest address every node's spending policy denies (BIP32 test vector 1's key, m/9/9).
const DENIED = segwitAddress(
  deriveEcdsaChild(
    Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
    Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
    [9, 9],
  ),
  'regtest',
).address

// Where the certificate scenario's spends go: any address outside the wallet and off the deny list.
const DENIED_FREE_ADDRESS = segwitAddress(
  deriveEcdsaChild(
    Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
    Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
    [9, 8],
  ),
  'regtest',
).address

describe('five nodes', { timeout: 30 * 60_000 }, () => {
  let cluster: NodeCluster
  const client = (id: number) => new ApiClient({ baseUrl: cluster.node(id).apiUrl, token: cluster.adminToken, timeoutMs: 20_000 })
  const ids = [1, 2, 3, 4, 5]
  const keys: Record<'schnorr' | 'ecdsa', KeyDto | null> = { schnorr: null, ecdsa: null }
  let status: ClusterStatusDto
  const restarted = new Set<number>()

  before(async () => {
    cluster = await NodeCluster.create(
      5,
      // Drill mode lets the Byzantine scenarios switch one node's misbehaviour on (tests only).
      { TW_DKG_TIMEOUT_MS: '60000', TW_BYZANTINE_DRILL: 'true', TW_POLICY_DENY: DENIED, TW_CERT_RELOAD_INTERVAL_S: '1' },
      { chain: true },
    )
    for (const id of ids) cluster.start(id)
    try {
      status = await until('all five nodes up with a leader and ready', 90_000, async () => {
        for (const id of ids) {
          const h = await client(id).health('ready')
          if (h.status !== 'ok') return null
        }
        const s = await client(1).clusterStatus()
        return s.nodesUp === 5 && s.leader !== null ? s : null
      })
    } catch (err) {
      process.stderr.write(cluster.logTails())
      throw err
    }
  })
  after(async (t) => {
    if (!cluster) return
    const failed = (t as unknown as { passed?: boolean }).passed === false
    if (failed) process.stderr.write(cluster.logTails(60))
    await cluster.destroy()
  })

  const nonLeader = () => ids.find((id) => id !== status.leader)!

  it('reports cluster status: five up, one leader with a term, etcd members', async () => {
    for (const id of ids) {
      // Each node refreshes membership every second; let it catch up.
      const s = await until(`node ${id} to see five up`, 10_000, async () => {
        const st = await client(id).clusterStatus()
        return st.nodesUp === 5 ? st : null
      })
      assert.equal(s.nodeId, id)
      assert.equal(s.nodesUp, 5)
      assert.equal(s.leader, status.leader)
      assert.equal(s.leaderTerm, status.leaderTerm)
      assert.equal(s.etcd.healthy, true)
      assert.equal(s.etcd.members.length, 1)
      assert.equal(s.database.healthy, true)
      assert.deepEqual(
        s.nodes.map((n) => n.up),
        [true, true, true, true, true],
      )
    }
  })

  it('creates a Schnorr key through a non-leader; all five agree', async () => {
    const via = nonLeader()
    let key = await client(via).createKey({ protocol: 'schnorr' }, 90_000)
    if (key.status === 'pending')
      key = await until('schnorr key active', 120_000, async () => {
        const k = (await client(via).listKeys()).keys.find((x) => x.id === key.id)
        return k?.status === 'active' ? k : null
      })
    assert.equal(key.status, 'active', JSON.stringify(key))
    assert.match(key.publicKey ?? '', /^0[23][0-9a-f]{64}$/)
    assert.match(key.outputKey ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(key.reportedBy, ids)
    keys.schnorr = key
    for (const id of ids) {
      const listed = (await client(id).listKeys()).keys.find((k) => k.id === key.id)
      assert.deepEqual(listed, key, `node ${id}`)
    }
  })

  it('creates an ECDSA key through a non-leader (waits for aux info); all five agree', async () => {
    const via = nonLeader()
    let key: KeyDto
    try {
      key = await client(via).createKey({ protocol: 'ecdsa' }, 90_000)
    } catch (err) {
      assert.fail(`createKey: ${err instanceof ApiError ? `${err.code} ${err.message}` : String(err)}`)
    }
    if (key.status === 'pending') {
      const id = key.id
      key = await until('ecdsa key active (aux info takes minutes)', 6 * 60_000, async () => {
        const k = (await client(via).listKeys()).keys.find((x) => x.id === id)
        if (k?.status === 'failed') assert.fail(`ecdsa key failed: ${k.error}`)
        return k?.status === 'active' ? k : null
      })
    }
    assert.equal(key.status, 'active')
    assert.match(key.publicKey ?? '', /^0[23][0-9a-f]{64}$/)
    assert.match(key.chainCode ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(key.reportedBy, ids)
    keys.ecdsa = key
    for (const id of ids) {
      const listed = (await client(id).listKeys()).keys
      assert.deepEqual(
        listed.find((k) => k.id === key.id),
        key,
        `node ${id}`,
      )
      assert.deepEqual(
        listed.find((k) => k.id === keys.schnorr!.id),
        keys.schnorr,
        `node ${id}`,
      )
    }
  })

  const scenarioContext = {
    cluster: () => cluster,
    client,
    up: () => ids.filter((id) => cluster.node(id).proc !== null),
    restarted: (id: number) => restarted.add(id),
    leader: async () => {
      const via = ids.find((id) => cluster.node(id).proc !== null)!
      return (await client(via).clusterStatus()).leader!
    },
  }
  walletScenarios(scenarioContext)
  eventScenarios(scenarioContext)
  byzantineScenarios({ ...scenarioContext, deniedAddress: DENIED })
  trustScenarios(scenarioContext)

  it('certificate renewal: node 2 takes a renewed certificate without a restart and keeps signing; a foreign-CA one is refused, and does not start', async () => {
    const native = await import('@tw/native')
    const certs = path.join(cluster.dir, 'certs')
    const pid = cluster.node(2).proc?.pid
    const fingerprint = (pem: string) => native.verifyNodeCertificate(readFileSync(path.join(certs, 'ca.crt'), 'utf8'), pem, 2).sha256Fingerprint
    const before = fingerprint(readFileSync(path.join(certs, 'node-2.crt'), 'utf8'))
    native.renewNodeCertificate(certs, 2)
    const renewed = readFileSync(path.join(certs, 'node-2.crt'), 'utf8')
    assert.notEqual(fingerprint(renewed), before)
    await until('node 2 to take the renewed certificate', 30_000, async () => /certificate renewed without a restart/.test(cluster.log(2)))
    // Node 2 still signs (its votes now with the new key) through a Taproot spend that needs it.
    const scenarioClient = client(1)
    for (let i = 0; i < 6; i++) {
      const { address } = await scenarioClient.address('taproot')
      await fetch(`${cluster.chain!.url}/regtest/faucet`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ address, amountSats: 20_000 }),
      })
      await fetch(`${cluster.chain!.url}/regtest/mine`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blocks: 1 }) })
      await until('funds', 30_000, async () => ((await scenarioClient.balance()).wallets.find((w) => w.type === 'taproot')?.confirmedSats ?? 0) >= 20_000)
      const tx = await scenarioClient.send({ to: DENIED_FREE_ADDRESS, amountSats: 5_000, feeRate: 2, type: 'taproot' }, `cert-${i}-${Date.now()}`)
      const done = await until(`send ${tx.id} broadcast`, 120_000, async () => {
        const t = await scenarioClient.transaction(tx.id)
        if (['failed', 'rejected', 'expired'].includes(t.state)) assert.fail(`send ended ${t.state}: ${JSON.stringify(t.error)}`)
        return t.state === 'broadcast' ? t : null
      })
      assert.ok(
        done.votes.every((v) => v.signatureValid),
        'every vote verifies, node 2 signed with its renewed key',
      )
      if (done.signers?.includes(2)) break
      assert.ok(i < 5, 'node 2 was never a signer')
    }
    assert.equal(cluster.node(2).proc?.pid, pid, 'node 2 was not restarted')
    // A certificate from another CA written over node 2's files is refused; node 2 keeps the renewed one.
    const foreign = path.join(cluster.dir, 'foreign')
    mkdirSync(foreign)
    native.generateClusterCerts(foreign, 2)
    const renewedKey = readFileSync(path.join(certs, 'node-2.key'))
    writeFileSync(path.join(certs, 'node-2.key'), readFileSync(path.join(foreign, 'node-2.key')), { mode: 0o600 })
    writeFileSync(path.join(certs, 'node-2.crt'), readFileSync(path.join(foreign, 'node-2.crt')))
    await until('the foreign certificate refused', 30_000, async () => /renewed certificate .* refused/.test(cluster.log(2)))
    assert.equal((await client(2).health('ready')).status, 'ok')
    // Restarted with the foreign pair, node 2 does not start at all (its peers would refuse every
    // connection while it reported ready), and says why.
    restarted.add(2)
    assert.equal(await cluster.stop(2), 0)
    cluster.start(2)
    const refused = cluster.node(2).proc!
    const code = await until('node 2 to refuse its foreign certificate at start', 60_000, async () => refused.exitCode)
    assert.equal(code, 1)
    assert.match(cluster.log(2), /start-up failed \(CERTIFICATE_REFUSED\): this node's certificate: .*node-2\.crt refused/)
    // The renewed files back, as an operator would put them: node 2 starts with them and rejoins.
    writeFileSync(path.join(certs, 'node-2.key'), renewedKey, { mode: 0o600 })
    writeFileSync(path.join(certs, 'node-2.crt'), renewed)
    cluster.start(2)
    await until('node 2 back with its renewed certificate', 90_000, async () => {
      const h = await client(2)
        .health('ready')
        .catch(() => null)
      return h?.status === 'ok' && (await client(1).clusterStatus()).nodesUp === 5
    })
  })

  it('a restarted node keeps its shares, rejoins, and does not rerun the DKGs', async () => {
    assert.ok(keys.schnorr && keys.ecdsa, 'needs both keys from the tests above')
    const id = nonLeader()
    restarted.add(id)
    const before = cluster.log(id)
    assert.equal(await cluster.stop(id), 0, 'graceful shutdown exits 0')
    await until('the cluster to see the node leave', 15_000, async () => (await client(status.leader!).clusterStatus()).nodesUp === 4)
    cluster.start(id)
    await until(`node ${id} back and ready with 5 up`, 60_000, async () => {
      const h = await client(id).health('ready')
      const s = await client(id).clusterStatus()
      return h.status === 'ok' && s.nodesUp === 5
    })
    const health = await client(id).health('ready')
    assert.deepEqual(
      { ecdsa: health.details?.keystore?.ecdsaKeys, frost: health.details?.keystore?.frostKeys },
      { ecdsa: 1, frost: 1 },
      'the keystore on disk still holds both shares',
    )
    const listed = (await client(id).listKeys()).keys
    assert.deepEqual(
      listed.find((k) => k.id === keys.ecdsa!.id),
      keys.ecdsa,
    )
    assert.deepEqual(
      listed.find((k) => k.id === keys.schnorr!.id),
      keys.schnorr,
    )
    const after = cluster.log(id).slice(before.length)
    assert.doesNotMatch(after, /DKG .* done in|aux info .*: running session/, 'nothing rerun after the restart')
    for (const n of ids) assert.equal((await client(n).clusterStatus()).nodesUp, 5)
  })

  it('keeps a verifiable audit log and exposes metrics', async () => {
    const verify = await client(1).request<{ ok: boolean; checked: number }>('GET', '/api/v1/audit/verify')
    assert.equal(verify.ok, true)
    assert.ok(verify.checked > 10)
    const m = ids.find((id) => !restarted.has(id))!
    const metrics = await client(m).metrics()
    for (const name of ['mpc_active_nodes', 'mpc_consensus_threshold', 'mpc_dkg_duration_seconds', 'mpc_transactions_total', 'process_cpu_seconds_total']) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    assert.match(metrics, new RegExp(`^mpc_active_nodes\\{node_id="${m}"\\} 5$`, 'm'))
    assert.match(metrics, /^mpc_dkg_duration_seconds_count\{[^}]*protocol="ecdsa"[^}]*\} 1$/m)
    assert.match(metrics, /^mpc_dkg_duration_seconds_count\{[^}]*protocol="schnorr"[^}]*\} 1$/m)
    assert.match(metrics, /^mpc_consensus_threshold\{[^}]*\} 4$/m)
  })

  // Last: every node restarts on an empty etcd.
  recoveryScenarios(scenarioContext)
})
