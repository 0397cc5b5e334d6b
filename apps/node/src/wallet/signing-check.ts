import { inputSignatureValid } from '@tw/bitcoin'
import type { ProposalBody } from './policy'
import type { SigningResult } from './wallet.types'

/** The wallet's key at an input's path: the signing public key (33 bytes, or x-only for Taproot) and the output script. */
export type KeyAt = (path: number[]) => { publicKey: Uint8Array; scriptPubKey: Uint8Array }

/**
 * Whether `signatures` (one per input, as a signer reports them) sign every input of the
 * proposal's transaction for the wallet's keys (`keyAt`, derived from the checking node's own
 * share). Every signer of an attempt computes the same aggregated signatures, so one report
 * that passes is enough to spend, and one that fails is a false report by its signer.
 */
export function signaturesValid(p: Pick<ProposalBody, 'type' | 'unsignedTx' | 'inputs'>, signatures: unknown, keyAt: KeyAt): boolean {
  if (!Array.isArray(signatures) || signatures.length !== p.inputs.length) return false
  const keys = p.inputs.map((i) => keyAt(i.path))
  const prevouts = p.inputs.map((i, n) => ({ scriptPubKey: keys[n].scriptPubKey, value: i.value }))
  return signatures.every(
    (s, index) => typeof s === 'string' && inputSignatureValid({ txHex: p.unsignedTx, index, keyType: p.type, publicKey: keys[index].publicKey, prevouts, signatureHex: s }),
  )
}

/** What a signer signs of its result: every field but the signature. */
export function resultBody(result: SigningResult): Omit<SigningResult, 'signature'> {
  const { signature: _signature, ...body } = result
  return body
}

/**
 * Who a failed attempt's reports leave out of the next attempt (issue 13: one insider must not
 * stall sends by naming honest nodes). A culprit named by at least two reporters is out; a
 * reporter whose culprits nobody else named is out instead of them (its word alone excludes
 * no one). Reports by the culprits themselves do not count.
 */
export function blame(failures: { nodeId: number; culprits: number[] }[], signers: number[]): { corroborated: number[]; loneAccusers: number[] } {
  const namedBy = new Map<number, Set<number>>()
  for (const f of failures) {
    for (const c of f.culprits) {
      if (c === f.nodeId || !signers.includes(c)) continue
      if (!namedBy.has(c)) namedBy.set(c, new Set())
      namedBy.get(c)!.add(f.nodeId)
    }
  }
  const corroborated = [...namedBy].filter(([, by]) => by.size >= 2).map(([c]) => c)
  const loneAccusers = failures
    .filter((f) => !corroborated.includes(f.nodeId) && f.culprits.some((c) => c !== f.nodeId && signers.includes(c)) && !f.culprits.some((c) => corroborated.includes(c)))
    .map((f) => f.nodeId)
  return { corroborated: corroborated.sort((a, b) => a - b), loneAccusers: [...new Set(loneAccusers)].sort((a, b) => a - b) }
}
