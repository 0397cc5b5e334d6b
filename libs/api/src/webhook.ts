import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** The header carrying a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'tw-signature'

/** A fresh webhook signing secret: `whsec_` + base64url of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`
}

/** Hex HMAC-SHA256 of `<t>.<body>` under `secret`: what `v1=` carries. */
export function webhookMac(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')
}

/** The `TW-Signature` header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${webhookMac(secret, timestamp, body)}`
}

/**
 * Checks a received webhook: the `TW-Signature` header must carry a `v1` HMAC of exactly the
 * raw body under `secret`, and a timestamp within `toleranceS` of `now` (a replayed old
 * delivery is refused). Returns null when it checks out, else why not.
 *
 * @example
 * const why = verifyWebhook(process.env.TW_WEBHOOK_SECRET, req.headers['tw-signature'], rawBody)
 * if (why) return res.status(400).end(why)
 */
export function verifyWebhook(secret: string, header: string | undefined, body: string, toleranceS = 300, now = Date.now()): string | null {
  if (!header) return 'no TW-Signature header'
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
  const t = Number(parts.get('t'))
  const mac = parts.get('v1')
  if (!Number.isInteger(t) || !mac || !/^[0-9a-f]{64}$/.test(mac)) return 'malformed TW-Signature header'
  if (Math.abs(now / 1000 - t) > toleranceS) return `timestamp ${t} is more than ${toleranceS} s away`
  const want = Buffer.from(webhookMac(secret, t, body), 'hex')
  return timingSafeEqual(want, Buffer.from(mac, 'hex')) ? null : 'signature does not match'
}
