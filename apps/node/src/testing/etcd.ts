import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
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

/** A real etcd cluster of `size` members on loopback ports, data under a temp dir. */
export interface EtcdCluster {
  endpoints: string[]
  members: EtcdMemberProcess[]
  stop(): Promise<void>
}

/**
 * Starts `size` etcd processes (`--name`, `--initial-cluster`) on free loopback ports and
 * waits until every member answers `/health`.
 */
export async function startEtcdCluster(size: number): Promise<EtcdCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-etcd-'))
  const specs = []
  for (let i = 0; i < size; i++) {
    specs.push({ name: `etcd${i}`, client: await freePort(), peer: await freePort() })
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',')
  const members: EtcdMemberProcess[] = specs.map((s) => {
    const clientUrl = `http://127.0.0.1:${s.client}`
    const proc = spawn(
      ETCD_BIN,
      [
        `--name=${s.name}`,
        `--data-dir=${path.join(dir, s.name)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${s.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${s.peer}`,
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
    stop: async () => {
      stopping = true
      await Promise.all(members.map((m) => m.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await Promise.all(members.map((m) => waitHealthy(m.clientUrl, 30_000)))
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

async function waitHealthy(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
      const body = (await res.json()) as { health?: string }
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
