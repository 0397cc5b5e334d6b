import { timingSafeEqual } from 'node:crypto'
import { API_TOKEN_RE, apiTokenHash, generateApiToken, type TokenRole } from '@tw/api'

export const ROLE_RANK: Record<TokenRole, number> = { viewer: 1, operator: 2, admin: 3 }

/** Whether `has` may do what `needs` allows (admin ⊃ operator ⊃ viewer). */
export function roleAllows(has: TokenRole, needs: TokenRole): boolean {
  return ROLE_RANK[has] >= ROLE_RANK[needs]
}

/** A fresh token: 32 bytes from the CSPRNG, shown to its owner once (one definition with the CLI's `tokens bootstrap`, in @tw/api). */
export const generateToken = generateApiToken

/** Lower-case hex SHA-256 of the token string; what the database stores. */
export const hashToken = apiTokenHash

export function isWellFormedToken(token: string): boolean {
  return API_TOKEN_RE.test(token)
}

/**
 * The bearer token of an `Authorization` header: `null` when the header is absent, `''` when
 * it is present but not `Bearer tw_...` (malformed), else the token.
 */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (header === undefined) return null
  const value = Array.isArray(header) ? header[0] : header
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(value ?? '')
  if (!m || !isWellFormedToken(m[1])) return ''
  return m[1]
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y)
}
