import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import https from 'node:https'
import { delimiter, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError } from '../errors'
import { DevnetPaths, EtcdMemberState, urls } from './state'
import { isOurs, ProcessMarker, spawnDetached } from './processes'

/** Finds the `etcd` binary on PATH (or $TW_ETCD_BIN); undefined if missing. */
export function findEtcd(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TW_ETCD_BIN) return existsSync(env.TW_ETCD_BIN) ? env.TW_ETCD_BIN : undefined
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'etcd'))) return join(dir, 'etcd')
  }
  return undefined
}

/** True once any member holds data, i.e. the cluster was bootstrapped before. */
export function etcdBootstrapped(paths: DevnetPaths, members: readonly EtcdMemberState[]): boolean {
  return members.some((m) => existsSync(join(paths.etcdData(m.name), 'member')))
}

/** etcd's own housekeeping: hourly compaction of old revisions, a 2 GiB backend quota. */
export const ETCD_RETENTION_ARGS = ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '1h', '--quota-backend-bytes', String(2 * 1024 ** 3)] as const

/**
 * The command-line flags of one member of the three-member loopback cluster: TLS for clients
 * and peers from the devnet's etcd CA, and `--client-cert-auth` (a client's certificate CN is
 * its etcd user once the ACL enabled auth).
 */
export function etcdArgs(paths: DevnetPaths, member: EtcdMemberState, all: readonly EtcdMemberState[], token: string, clusterState: 'new' | 'existing'): string[] {
  return [
    '--name',
    member.name,
    '--data-dir',
    paths.etcdData(member.name),
    '--listen-client-urls',
    urls.etcdClient(member),
    '--advertise-client-urls',
    urls.etcdClient(member),
    '--listen-peer-urls',
    urls.etcdPeer(member),
    '--initial-advertise-peer-urls',
    urls.etcdPeer(member),
    '--initial-cluster',
    all.map((m) => `${m.name}=${urls.etcdPeer(m)}`).join(','),
    '--initial-cluster-token',
    token,
    '--initial-cluster-state',
    clusterState,
    '--cert-file',
    paths.etcdServerCert(),
    '--key-file',
    paths.etcdServerKey(),
    '--trusted-ca-file',
    paths.etcdCaCert(),
    '--client-cert-auth',
    '--peer-cert-file',
    paths.etcdServerCert(),
    '--peer-key-file',
    paths.etcdServerKey(),
    '--peer-trusted-ca-file',
    paths.etcdCaCert(),
    '--peer-client-cert-auth',
    // Old revisions are compacted hourly and the backend has a quota (an alarm, not a full disk).
    ...ETCD_RETENTION_ARGS,
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ]
}

/** True if the member's `/health` (over TLS, with the root client certificate) says healthy. */
export async function etcdHealthy(paths: DevnetPaths, member: EtcdMemberState, timeoutMs = 2000): Promise<boolean> {
  const tls = paths.etcdClient('root')
  try {
    const body = await new Promise<string>((ok, fail) => {
      const req = https.get(
        `${urls.etcdClient(member)}/health`,
        { ca: readFileSync(tls.caPath), cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath), timeout: timeoutMs },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => (text += d))
          res.on('end', () => (res.statusCode === 200 ? ok(text) : fail(new Error(`status ${res.statusCode}`))))
        },
      )
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', fail)
    })
    return (JSON.parse(body) as { health?: string }).health === 'true'
  } catch {
    return false
  }
}

/**
 * The ACL script of the node service (apps/node/src/cluster/etcd-acl.ts): $TW_ETCD_ACL_ENTRY,
 * else `apps/node/dist/cluster/etcd-acl.js` of this checkout.
 */
export function etcdAclEntry(env: NodeJS.ProcessEnv = process.env): string {
  return env.TW_ETCD_ACL_ENTRY ? resolve(env.TW_ETCD_ACL_ENTRY) : resolve(__dirname, '..', '..', '..', '..', 'node', 'dist', 'cluster', 'etcd-acl.js')
}

/**
 * Applies the etcd ACL with the root certificate (users root and node-1..node-<nodes>, one role
 * per node, then auth enable). Idempotent: runs at every `devnet up`, so a changed table applies.
 */
export async function applyEtcdAcl(paths: DevnetPaths, members: readonly EtcdMemberState[], nodes: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const entry = etcdAclEntry(env)
  if (!existsSync(entry)) {
    throw new CliError('NODE_NOT_BUILT', `etcd ACL script not built: ${entry} is missing; run \`npx tsc -b\` at the repository root`)
  }
  const root = paths.etcdClient('root')
  const aclEnv = {
    PATH: env.PATH ?? '',
    TW_ETCD_ENDPOINTS: members.map(urls.etcdClient).join(','),
    TW_ETCD_CA: root.caPath,
    TW_ETCD_CERT: root.certPath,
    TW_ETCD_KEY: root.keyPath,
    TW_CLUSTER_SIZE: String(nodes),
    TW_ETCD_ACL_TIMEOUT_S: '30',
  }
  return new Promise((ok, fail) => {
    execFile(process.execPath, [entry], { env: aclEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) fail(new CliError('ETCD_ACL_FAILED', `applying the etcd ACL failed: ${(stderr || err.message).trim()}`))
      else ok(stdout.trim())
    })
  })
}

/** The marker that identifies a member's process in /proc/<pid>/cmdline. */
export function etcdMarker(paths: DevnetPaths, member: EtcdMemberState): ProcessMarker {
  return { cmdline: paths.etcdData(member.name) }
}

/**
 * Starts every member that is not running (first time with `new`, later `existing`) and
 * waits until all three are healthy. Returns the names of the members it started.
 */
export async function startEtcd(paths: DevnetPaths, members: EtcdMemberState[], token: string, o: { timeoutMs: number; onProgress?: (s: string) => void }): Promise<string[]> {
  const bin = findEtcd()
  if (!bin) throw new CliError('ETCD_NOT_FOUND', 'etcd not found on PATH: install it with `apt-get install etcd-server`')
  const clusterState = etcdBootstrapped(paths, members) ? 'existing' : 'new'
  const started: string[] = []
  for (const m of members) {
    if (isOurs(m.pid, etcdMarker(paths, m))) continue
    m.pid = spawnDetached(bin, etcdArgs(paths, m, members, token, clusterState), {
      logFile: paths.etcdLog(m.name),
      env: process.env,
    })
    started.push(m.name)
  }
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    const healthy = await Promise.all(members.map((m) => etcdHealthy(paths, m)))
    const n = healthy.filter(Boolean).length
    o.onProgress?.(`etcd ${n}/${members.length} healthy`)
    if (n === members.length) return started
    const dead = members.find((m) => !isOurs(m.pid, etcdMarker(paths, m)))
    if (dead) {
      throw new CliError('ETCD_EXITED', `etcd member ${dead.name} exited during startup; see ${paths.etcdLog(dead.name)}`)
    }
    if (Date.now() > deadline) {
      const bad = members.filter((_, i) => !healthy[i]).map((m) => m.name)
      throw new CliError(
        'ETCD_UNHEALTHY',
        `etcd member(s) ${bad.join(', ')} not healthy after ${Math.round(o.timeoutMs / 1000)}s; see ${bad.map((b) => paths.etcdLog(b)).join(', ')}`,
      )
    }
    await sleep(500)
  }
}
