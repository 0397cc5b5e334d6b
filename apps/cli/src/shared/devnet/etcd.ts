import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
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

/** The command-line flags of one member of the three-member loopback cluster. */
export function etcdArgs(
  paths: DevnetPaths,
  member: EtcdMemberState,
  all: readonly EtcdMemberState[],
  token: string,
  clusterState: 'new' | 'existing',
): string[] {
  return [
    '--name', member.name,
    '--data-dir', paths.etcdData(member.name),
    '--listen-client-urls', urls.etcdClient(member),
    '--advertise-client-urls', urls.etcdClient(member),
    '--listen-peer-urls', urls.etcdPeer(member),
    '--initial-advertise-peer-urls', urls.etcdPeer(member),
    '--initial-cluster', all.map((m) => `${m.name}=${urls.etcdPeer(m)}`).join(','),
    '--initial-cluster-token', token,
    '--initial-cluster-state', clusterState,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ]
}

/** True if the member's `/health` says healthy (it has a leader and quorum). */
export async function etcdHealthy(member: EtcdMemberState, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${urls.etcdClient(member)}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    const body = (await res.json()) as { health?: string }
    return res.ok && body.health === 'true'
  } catch {
    return false
  }
}

/** The marker that identifies a member's process in /proc/<pid>/cmdline. */
export function etcdMarker(paths: DevnetPaths, member: EtcdMemberState): ProcessMarker {
  return { cmdline: paths.etcdData(member.name) }
}

/**
 * Starts every member that is not running (first time with `new`, later `existing`) and
 * waits until all three are healthy. Returns the names of the members it started.
 */
export async function startEtcd(
  paths: DevnetPaths,
  members: EtcdMemberState[],
  token: string,
  o: { timeoutMs: number; onProgress?: (s: string) => void },
): Promise<string[]> {
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
    const healthy = await Promise.all(members.map((m) => etcdHealthy(m)))
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
