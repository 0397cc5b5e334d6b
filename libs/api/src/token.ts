import { createHash, randomBytes } from 'node:crypto'

/** An API token: `tw_` + base64url of 32 random bytes (43 characters). */
export const API_TOKEN_RE = /^tw_[A-Za-z0-9_-]{43}$/

/** A fresh API token: 32 bytes from the CSPRNG, shown to its owner once. */
export function generateApiToken(): string {
  return `tw_${randomBytes(32).toString('base64url')}`
}

/** Lower-case hex SHA-256 of the token string: all a node ever stores (`TW_BOOTSTRAP_ADMIN_TOKEN_SHA256` is one). */
export function apiTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}
