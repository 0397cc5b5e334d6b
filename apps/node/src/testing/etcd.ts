import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const ETCD_BIN = '/usr/bin/etcd'

/** A free loopback TCP port (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

export interface EtcdMemberProcess {
  name: string
  clientUrl: string
  proc: ChildProcess | null
  stop(): Promise<void>
}

/** Client TLS files of a secure test cluster (see `generateEtcdCerts` of @tw/native). */
export interface EtcdTestTls {
  /** Directory with the etcd CA, member, root, node and prometheus certificates. */
  dir: string
  caPath: string
  /** The `root` client (CN root): applies the ACL. */
  root: { caPath: string; certPath: string; keyPath: string }
  /** Node `id`'s client (CN node-<id>). */
  node(id: number): { caPath: string; certPath: string; keyPath: string }
  /** A certificate of the same CA whose CN (`prometheus`) is no etcd user. */
  prometheus: { caPath: string; certPath: string; keyPath: string }
}

/** A real etcd cluster of `size` members on loopback ports, data under a temp dir. */
export interface EtcdCluster {
  endpoints: string[]
  members: EtcdMemberProcess[]
  /** Set when started with `secure`: endpoints are https and need a client certificate. */
  tls?: EtcdTestTls
  stop(): Promise<void>
}

export interface EtcdClusterOptions {
  /**
   * Start members as production does: TLS for clients and peers, `--client-cert-auth`
   * (the client certificate's CN is the etcd user), certificates from a fresh etcd CA for
   * `nodes` nodes (default 5). Auth itself is off until the ACL is applied (`applyEtcdAcl`).
   */
  secure?: boolean
  nodes?: number
}

/**
 * Starts `size` etcd processes (`--name`, `--initial-cluster`) on free loopback ports and
 * waits until every member answers `/health`.
 */
export async function startEtcdCluster(size: number, opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-etcd-'))
  const tls = opts.secure ? makeTestTls(path.join(dir, 'certs'), opts.nodes ?? 5) : undefined
  const scheme = tls ? 'https' : 'http'
  const tlsArgs = tls
    ? [
        `--cert-file=${path.join(tls.dir, 'etcd-server.crt')}`,
        `--key-file=${path.join(tls.dir, 'etcd-server.key')}`,
        `--trusted-ca-file=${tls.caPath}`,
        '--client-cert-auth',
        `--peer-cert-file=${path.join(tls.dir, 'etcd-server.crt')}`,
        `--peer-key-file=${path.join(tls.dir, 'etcd-server.key')}`,
        `--peer-trusted-ca-file=${tls.caPath}`,
        '--peer-client-cert-auth',
      ]
    : []
  const specs = []
  for (let i = 0; i < size; i++) {
    specs.push({ name: `etcd${i}`, client: await freePort(), peer: await freePort() })
  }
  const initialCluster = specs.map((s) => `${s.name}=${scheme}://127.0.0.1:${s.peer}`).join(',')
  const members: EtcdMemberProcess[] = specs.map((s) => {
    const clientUrl = `${scheme}://127.0.0.1:${s.client}`
    const proc = spawn(
      ETCD_BIN,
      [
        ...tlsArgs,
        `--name=${s.name}`,
        `--data-dir=${path.join(dir, s.name)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${scheme}://127.0.0.1:${s.peer}`,
        `--initial-advertise-peer-urls=${scheme}://127.0.0.1:${s.peer}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=tw-test-${path.basename(dir)}`,
        '--heartbeat-interval=100',
        '--election-timeout=1000',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    const member: EtcdMemberProcess = {
      name: s.name,
      clientUrl,
      proc,
      stop: () => stopProcess(member),
    }
    proc.on('exit', (code) => {
      if (member.proc === proc) member.proc = null
      if (code && code !== 0 && !stopping) process.stderr.write(`etcd ${s.name} exited ${code}: ${stderr}\n`)
    })
    return member
  })
  let stopping = false
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    ...(tls ? { tls } : {}),
    stop: async () => {
      stopping = true
      await Promise.all(members.map((m) => m.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await Promise.all(members.map((m) => waitHealthy(m.clientUrl, 30_000, tls?.root)))
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

function makeTestTls(dir: string, nodes: number): EtcdTestTls {
  const native = require('@tw/native') as typeof import('@tw/native')
  native.generateEtcdCerts(dir, nodes, dir, 30)
  const caPath = path.join(dir, 'etcd-ca.crt')
  const client = (name: string) => ({ caPath, certPath: path.join(dir, `${name}.crt`), keyPath: path.join(dir, `${name}.key`) })
  return { dir, caPath, root: client('etcd-root'), node: (id) => client(`etcd-node-${id}`), prometheus: client('etcd-prometheus') }
}

/** GET `url` (http, or https with the client certificate `tls`); the parsed JSON body. */
export function getJson(url: string, tls?: { caPath: string; certPath: string; keyPath: string }, timeoutMs = 1000): Promise<unknown> {
  if (!tls) return fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.json())
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: readFileSync(tls.caPath), cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath), timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => {
        try {
          resolve(JSON.parse(body))
        } catch (err) {
          reject(err)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)))
    req.on('error', reject)
  })
}

async function waitHealthy(url: string, ms: number, tls?: { caPath: string; certPath: string; keyPath: string }): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      const body = (await getJson(`${url}/health`, tls)) as { health?: string }
      if (body.health === 'true') return
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`etcd at ${url} not healthy within ${ms} ms`)
}

function stopProcess(member: EtcdMemberProcess): Promise<void> {
  const proc = member.proc
  if (!proc || proc.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000)
    proc.once('exit', () => {
      clearTimeout(kill)
      member.proc = null
      resolve()
    })
    proc.kill('SIGTERM')
  })
}
