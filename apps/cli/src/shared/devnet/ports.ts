import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

/** True if a TCP listener can bind `127.0.0.1:port` right now. */
export function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

/** True if a UDP socket can bind `127.0.0.1:port` right now. */
export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4')
    sock.once('error', () => {
      sock.close()
      resolve(false)
    })
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)))
  })
}

async function pickTcp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function pickUdp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4')
    sock.once('error', reject)
    sock.bind(0, '127.0.0.1', () => {
      const port = sock.address().port
      sock.close(() => resolve(port))
    })
  })
}

/**
 * Picks `count` distinct free loopback ports of the given kind, none of them in `avoid`.
 * A port free for TCP is also checked for UDP and vice versa, so the two kinds never collide.
 */
export async function pickFreePorts(count: number, kind: 'tcp' | 'udp', avoid: Iterable<number> = []): Promise<number[]> {
  const taken = new Set(avoid)
  const out: number[] = []
  for (let attempts = 0; out.length < count; attempts++) {
    if (attempts > count * 50) throw new Error(`could not find ${count} free ${kind} ports on 127.0.0.1`)
    const port = kind === 'tcp' ? await pickTcp() : await pickUdp()
    if (port === 0 || taken.has(port)) continue
    const otherFree = kind === 'tcp' ? await udpPortFree(port) : await tcpPortFree(port)
    if (!otherFree) continue
    taken.add(port)
    out.push(port)
  }
  return out
}

/** A port p such that p..p+count-1 are all free for TCP (for `devnet up --base-port` in tests). */
export async function pickFreeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000)
    let free = true
    for (let p = base; p < base + count && free; p++) free = await tcpPortFree(p)
    if (free) return base
  }
  throw new Error(`no ${count} consecutive free TCP ports found`)
}
