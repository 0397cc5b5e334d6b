import { spawn } from 'node:child_process'
import net from 'node:net'
import type { EtcdMemberProcess } from './etcd'

/**
 * Fault-injection helpers for the chaos suite (tests only). Each acts only on what the test
 * itself started: its own TCP proxy, its own etcd members, its own node processes.
 */

/** A small seeded PRNG (mulberry32): the same seed replays the same fault schedule. */
export class SeededRandom {
  private state: number
  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }
  /** In [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]
  }
  chance(p: number): boolean {
    return this.next() < p
  }
}

/** `TW_CHAOS_SEED` if set (a replay), else a random 31-bit seed. */
export function chaosSeed(): number {
  const env = process.env.TW_CHAOS_SEED
  if (env && env.trim() !== '') {
    const n = Number(env)
    if (!Number.isInteger(n) || n < 0) throw new Error(`TW_CHAOS_SEED must be a non-negative integer, not ${env}`)
    return n
  }
  return Math.floor(Math.random() * 0x7fffffff)
}

/**
 * A TCP proxy on a free loopback port in front of `target` (the test's PostgreSQL): `cut()`
 * closes the listener and destroys every live connection (the database looks down to the
 * nodes: connections reset, new ones refused); `restore()` listens again on the same port.
 */
export class TcpProxy {
  private server: net.Server | null = null
  private readonly sockets = new Set<net.Socket>()
  port = 0
  /** Connections accepted since start (to tell that clients came back after a cut). */
  accepted = 0

  private constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetHost, targetPort)
    await p.listen(0)
    return p
  }

  get isCut(): boolean {
    return this.server === null
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((client) => {
      this.accepted++
      const upstream = net.connect(this.targetPort, this.targetHost)
      this.sockets.add(client)
      this.sockets.add(upstream)
      const done = () => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('error', done).on('close', done)
      upstream.on('error', done).on('close', done)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        this.port = (server.address() as net.AddressInfo).port
        this.server = server
        resolve()
      })
    })
  }

  /** Stops accepting and resets every live connection. */
  async cut(): Promise<void> {
    const server = this.server
    this.server = null
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    if (server) await new Promise<void>((r) => server.close(() => r()))
  }

  /** Listens again on the same port (retried briefly if the port is in TIME_WAIT). */
  async restore(): Promise<void> {
    if (this.server) return
    for (let i = 0; ; i++) {
      try {
        await this.listen(this.port)
        return
      } catch (err) {
        if (i >= 50) throw err
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  async close(): Promise<void> {
    await this.cut()
  }
}

/** SIGKILLs one etcd member the test started and waits for its exit. */
export async function killEtcdMember(member: EtcdMemberProcess): Promise<{ args: string[]; file: string }> {
  const proc = member.proc
  if (!proc) throw new Error(`etcd member ${member.name} is not running`)
  const saved = { file: proc.spawnfile, args: proc.spawnargs.slice(1) }
  if (proc.exitCode === null && proc.signalCode === null) {
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve())
      proc.kill('SIGKILL')
    })
  }
  member.proc = null
  return saved
}

/**
 * Starts a killed etcd member again with its own command line (same name, data dir and
 * ports): it rejoins the cluster from its data dir. `member.stop()` stops the new process.
 */
export function restartEtcdMember(member: EtcdMemberProcess, saved: { args: string[]; file: string }): void {
  const proc = spawn(saved.file, saved.args, { stdio: ['ignore', 'ignore', 'ignore'] })
  proc.on('exit', () => {
    if (member.proc === proc) member.proc = null
  })
  member.proc = proc
}
