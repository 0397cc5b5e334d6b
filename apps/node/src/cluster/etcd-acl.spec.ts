import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Etcd3 } from 'etcd3'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { applyEtcdAcl, certClient, ETCD_ACL, mayWrite, nodePermissions } from './etcd-acl'
import { EtcdKeys, EtcdRepository } from './etcd.repository'

const PERMISSION_DENIED = /permission denied/i

describe('etcd ACL table', () => {
  it("gives a node its own partition and registration keys, never another node's", () => {
    assert.equal(mayWrite(3, '/tw/n/3/votes/x'), true)
    assert.equal(mayWrite(3, '/tw/n/4/votes/x'), false)
    assert.equal(mayWrite(3, '/tw/n/31/votes/x'), false) // the prefix ends with a slash
    assert.equal(mayWrite(3, '/tw/nodes/3'), true)
    assert.equal(mayWrite(3, '/tw/nodes/4'), false)
    assert.equal(mayWrite(3, '/tw/nodes/30'), false) // registration keys are exact keys
    assert.equal(mayWrite(3, '/tw/certs/4'), false)
    assert.equal(mayWrite(3, '/tw/primes/4'), false)
    assert.equal(mayWrite(3, '/tw/drill/4'), false)
    assert.equal(mayWrite(3, '/tw/leader'), true)
    assert.equal(mayWrite(3, '/elsewhere'), false)
    assert.equal(mayWrite(3, '/tw/unlisted/x'), false)
  })

  it("gives a node its own DKG and aux info results, never another node's", () => {
    assert.equal(mayWrite(3, EtcdKeys.dkgResult('job-1', 3)), true)
    assert.equal(mayWrite(3, EtcdKeys.auxResult('aux-1', 3)), true)
    assert.equal(mayWrite(3, EtcdKeys.dkgResult('job-1', 4)), false)
    assert.equal(mayWrite(3, EtcdKeys.auxResult('aux-1', 4)), false)
    // The leader's records stay writable (fenced by /tw/leader), the old shared result prefix does not.
    assert.equal(mayWrite(3, EtcdKeys.dkgJob('job-1')), true)
    assert.equal(mayWrite(3, EtcdKeys.auxCurrent), true)
    assert.equal(mayWrite(3, '/tw/aux/results/aux-1/4'), false)
  })

  it('every entry says why; reads cover /tw/ only', () => {
    for (const e of ETCD_ACL) assert.ok(e.why.length > 10, e.path)
    const reads = nodePermissions(1).filter((p) => p.access === 'read')
    assert.deepEqual(reads, [{ access: 'read', key: '/tw/', prefix: '/tw/' }])
    assert.throws(() => nodePermissions(0), /node id/)
  })
})

describe('etcd with client certificates and the ACL (TLS + --client-cert-auth)', () => {
  let cluster: EtcdCluster
  let root: Etcd3
  let node3: Etcd3
  const clients: Etcd3[] = []
  const connect = (id: number) => {
    const t = cluster.tls!.node(id)
    const c = certClient({ endpoints: cluster.endpoints, ca: t.caPath, cert: t.certPath, key: t.keyPath })
    clients.push(c)
    return c
  }

  before(async () => {
    cluster = await startEtcdCluster(1, { secure: true, nodes: 5 })
    const t = cluster.tls!.root
    root = certClient({ endpoints: cluster.endpoints, ca: t.caPath, cert: t.certPath, key: t.keyPath })
    clients.push(root)
    const first = await applyEtcdAcl(root, [1, 2, 3, 4, 5])
    assert.deepEqual(first.usersCreated.sort(), ['node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'root'])
    node3 = connect(3)
  })
  after(async () => {
    for (const c of clients) c.close()
    await cluster?.stop()
  })

  it('runs with https endpoints', () => {
    assert.match(cluster.endpoints[0], /^https:\/\/127\.0\.0\.1:\d+$/)
  })

  it('node 3 writes its own partition and registration keys', async () => {
    await node3.put('/tw/n/3/votes/x').value('{"ok":true}')
    await node3.put('/tw/nodes/3').value('{}')
    await node3.put('/tw/certs/3').value('{}')
    assert.equal(await node3.get('/tw/n/3/votes/x').string(), '{"ok":true}')
  })

  it("node 3 is refused node 4's partition and registration keys", async () => {
    for (const key of ['/tw/n/4/votes/x', '/tw/n/4/results/x/1', '/tw/nodes/4', '/tw/certs/4', '/tw/primes/4', '/tw/drill/4', '/tw/unlisted']) {
      await assert.rejects(node3.put(key).value('{}').exec(), PERMISSION_DENIED, key)
    }
    await assert.rejects(node3.delete().key('/tw/nodes/4').exec(), PERMISSION_DENIED)
    // Node 4's outcome of a key generation or of aux info: node 3 cannot forge or overwrite it.
    await connect(4).put(EtcdKeys.dkgResult('job-1', 4)).value('{"nodeId":4,"ok":true}')
    for (const key of [EtcdKeys.dkgResult('job-1', 4), EtcdKeys.dkgResult('job-2', 4), EtcdKeys.auxResult('aux-1', 4)]) {
      await assert.rejects(node3.put(key).value('{"nodeId":4,"ok":false}').exec(), PERMISSION_DENIED, key)
    }
    await assert.rejects(node3.delete().key(EtcdKeys.dkgResult('job-1', 4)).exec(), PERMISSION_DENIED)
    assert.equal(await root.get(EtcdKeys.dkgResult('job-1', 4)).string(), '{"nodeId":4,"ok":true}')
    await node3.put(EtcdKeys.dkgResult('job-1', 3)).value('{"nodeId":3,"ok":true}')
    await node3.put(EtcdKeys.auxResult('aux-1', 3)).value('{"nodeId":3,"ok":true}')
    // Nothing of node 4's was written.
    assert.equal(await root.get('/tw/n/4/votes/x').string(), null)
    assert.equal(await root.get('/tw/nodes/4').string(), null)
  })

  it('node 3 reads everything under /tw/, but nothing outside it', async () => {
    await connect(4).put('/tw/n/4/votes/y').value('"four"')
    const all = await node3.getAll().prefix('/tw/').keys()
    assert.ok(all.includes('/tw/n/4/votes/y') && all.includes('/tw/nodes/3'), all.join(','))
    await root.put('/secret').value('x')
    await assert.rejects(node3.get('/secret').string(), PERMISSION_DENIED)
  })

  it('shared coordination keys work through EtcdRepository with the node certificate (lease, campaign, fenced put)', async () => {
    const t = cluster.tls!.node(3)
    const repo = new EtcdRepository({ endpoints: cluster.endpoints, leaseTtlSeconds: 5, tls: t })
    try {
      await repo.startSession()
      await repo.putEphemeral(EtcdKeys.node(3), { nodeId: 3 })
      const term = await repo.campaign({ nodeId: 3, apiUrl: 'http://127.0.0.1:1' })
      assert.equal(term?.nodeId, 3)
      assert.equal(await repo.fencedPut(term!.term, EtcdKeys.key('k1'), { status: 'active' }), true)
      await assert.rejects(repo.put(EtcdKeys.node(4), {}), PERMISSION_DENIED)
      assert.ok((await repo.members()).length === 1)
      await repo.revokeSession()
      assert.equal(await repo.getLeader(), null)
    } finally {
      await repo.close()
    }
  })

  it('a client without a certificate, or with a certificate that is no etcd user, is refused', async () => {
    // TLS that trusts the CA but presents no client certificate: the handshake is refused.
    const anon = new Etcd3({ hosts: cluster.endpoints, dialTimeout: 2000, credentials: { rootCertificate: Buffer.from(await readCa()) } })
    clients.push(anon)
    await assert.rejects(withDeadline(anon.put('/tw/n/3/votes/z').value('x').exec()), /bad certificate/)
    // Plain http to the TLS port: refused too.
    const plain = new Etcd3({ hosts: cluster.endpoints.map((e) => e.replace('https:', 'http:')), dialTimeout: 2000 })
    clients.push(plain)
    await assert.rejects(withDeadline(plain.put('/tw/n/3/votes/z').value('x').exec()), (err: Error) => !/no answer within/.test(err.message))
    // A valid certificate of the etcd CA whose CN is no user (Prometheus'): no key access.
    const p = cluster.tls!.prometheus
    const prom = certClient({ endpoints: cluster.endpoints, ca: p.caPath, cert: p.certPath, key: p.keyPath })
    clients.push(prom)
    await assert.rejects(prom.get('/tw/nodes/3').string(), PERMISSION_DENIED)
    // ...but it can scrape /metrics over TLS.
    const metrics = await fetchText(`${cluster.endpoints[0]}/metrics`, p)
    assert.match(metrics, /etcd_server_has_leader/)
    assert.equal(await root.get('/tw/n/3/votes/z').string(), null)
  })

  it('applying the ACL again is a no-op once auth is on, and revokes what the table dropped', async () => {
    const again = await applyEtcdAcl(root, [1, 2, 3, 4, 5])
    assert.deepEqual(again.usersCreated, [])
    assert.deepEqual(again.rolesCreated, [])
    assert.deepEqual(again.revoked, {})
    // A table without the /tw/leader line: the stale grant is revoked.
    const smaller = ETCD_ACL.filter((e) => e.path !== '/tw/leader')
    const r = await applyEtcdAcl(root, [3], smaller)
    assert.deepEqual(r.revoked, { 'node-3': 1 })
    await assert.rejects(node3.put('/tw/leader').value('{}').exec(), PERMISSION_DENIED)
    await applyEtcdAcl(root, [3])
    await node3.put('/tw/leader').value('{}')
    await node3.delete().key('/tw/leader')
  })

  async function readCa(): Promise<string> {
    const { readFile } = await import('node:fs/promises')
    return readFile(cluster.tls!.caPath, 'utf8')
  }
})

/** The promise, or a rejection "no answer within" after 8 s (a refusal must be an error, not a hang). */
function withDeadline<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error('no answer within 8 s')), 8000))])
}

async function fetchText(url: string, tls: { caPath: string; certPath: string; keyPath: string }): Promise<string> {
  const https = await import('node:https')
  const { readFileSync } = await import('node:fs')
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(tls.caPath), cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}
