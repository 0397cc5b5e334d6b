/** A signed record's payload: everything but the signature (what its signer signed). */
export function unsigned<T extends { signature: string }>(record: T): Omit<T, 'signature'> {
  const { signature: _signature, ...rest } = record
  return rest
}
