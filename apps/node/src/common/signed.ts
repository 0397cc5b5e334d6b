/** A signed record's payload: everything but the signature (what its signer signed). */
export function unsigned<T extends { signature: string }>(record: T): Omit<T, 'signature'> {
  const { signature: _signature, ...rest } = record
  return rest
}

/** Checks a node's identity signature over a payload (NodeIdentityService.verify). */
export type VerifySigned = (nodeId: number, payload: unknown, signature: string) => Promise<boolean>

/**
 * Whether `record` carries node `nodeId`'s identity signature over everything but its
 * `signature` field. A record read from etcd is untrusted: a missing signature or a signer that
 * is not a node id is simply false.
 */
export async function isSignedBy(record: { signature: string }, nodeId: unknown, verify: VerifySigned): Promise<boolean> {
  return Number.isInteger(nodeId) && typeof record?.signature === 'string' && (await verify(nodeId as number, unsigned(record), record.signature))
}
