// The transaction history's page position (GET /api/v1/transactions `cursor`).

/** The opaque position after a history row: base64url of `[createdAt, id]`. */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url')
}

/** The position a cursor names, or throws (a cursor this node did not hand out). */
export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw new Error('not a cursor')
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string' || Number.isNaN(Date.parse(v[0])) || !/^[0-9a-f-]{36}$/i.test(v[1])) {
    throw new Error('not a cursor')
  }
  return { createdAt: v[0], id: v[1] }
}
