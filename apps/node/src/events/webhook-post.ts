import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { BlockList, isIP } from 'node:net'

/**
 * Where a webhook may not POST unless `TW_WEBHOOK_ALLOW_PRIVATE=true`: loopback, private,
 * link-local (cloud metadata services), carrier-grade NAT, benchmarking, multicast, reserved and
 * unspecified addresses, and IPv6's unique-local, link-local and multicast ranges (an IPv4-mapped
 * IPv6 address is judged by the IPv4 address it carries: BlockList does that itself).
 * A webhook URL is an admin's input and its record lives in etcd: neither may turn the node
 * into a client of the network it runs in.
 */
const PRIVATE = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback and IPv4-compatible
  ['64:ff9b::', 96], // NAT64
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6')
}

/** Whether `address` (an IP literal) is one a webhook may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** Why `url` names a host a webhook may not reach by its spelling alone (an IP literal or localhost), or null. */
export function privateUrlReason(url: string): string | null {
  let host: string
  try {
    host = new URL(url).hostname.toLowerCase()
  } catch {
    return null
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is this machine`
  if (isPrivateAddress(host)) return `${host} is a private, loopback or link-local address`
  return null
}

/** Error code of a delivery refused because the host resolves to a private address. */
export const PRIVATE_ADDRESS = 'WEBHOOK_PRIVATE_ADDRESS'

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
/** Resolves a host name to all its addresses (dns.lookup with `all: true`). */
export type Resolve = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

const systemResolve: Resolve = (hostname, options, callback) => dnsLookup(hostname, { ...options, all: true }, callback)

/**
 * A `lookup` for the HTTP agent that refuses a host any of whose addresses is private. The
 * connection uses the very address checked here, so a name that resolves to a public address
 * now and a private one a moment later (DNS rebinding) gets nowhere.
 */
const guardedLookup =
  (resolve: Resolve) =>
  (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, options, (err, addresses) => {
      if (err) return callback(err, [])
      if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
        return callback(Object.assign(new Error(`${hostname} resolves to a private, loopback or link-local address`), { code: PRIVATE_ADDRESS }), [])
      }
      if (options.all) return callback(null, addresses)
      callback(null, addresses[0].address, addresses[0].family)
    })
  }

/**
 * POSTs `body` to `url` (no redirects followed) and resolves with the HTTP status; the answer's
 * body is not read. Unless `allowPrivate`, a URL naming or resolving to a private
 * address is refused before anything is sent (error code {@link PRIVATE_ADDRESS}).
 */
export function postWebhook(url: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number; allowPrivate: boolean; resolve?: Resolve }): Promise<number> {
  const refused = opts.allowPrivate ? null : privateUrlReason(url)
  if (refused) return Promise.reject(Object.assign(new Error(refused), { code: PRIVATE_ADDRESS }))
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const client = target.protocol === 'https:' ? https : http
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(opts.timeoutMs),
        ...(opts.allowPrivate ? {} : { lookup: guardedLookup(opts.resolve ?? systemResolve) as never }),
      },
      (res) => {
        resolve(res.statusCode ?? 0)
        res.destroy() // the answer's body is never read
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
