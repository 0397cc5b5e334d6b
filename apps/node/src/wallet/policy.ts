import { createHash } from 'node:crypto'
import { decodeTransaction, estimateVsize, parseAddress, type BitcoinError } from '@tw/bitcoin'
import type { BitcoinNetwork, SpendPolicy } from '../config/config'
import { canonicalJson } from '../common/canonical-json'
import type { TxRecord } from './wallet.types'

/** The part of a proposal votes are about: everything the transaction and its sighashes depend on. */
export type ProposalBody = Pick<TxRecord, 'id' | 'keyId' | 'type' | 'to' | 'amountSats' | 'unsignedTx' | 'inputs' | 'outputs'>

/** The proposal body of `tx` (only the fields its hash covers). */
export function proposalBody(tx: ProposalBody): ProposalBody {
  return {
    id: tx.id,
    keyId: tx.keyId,
    type: tx.type,
    to: tx.to,
    amountSats: tx.amountSats,
    unsignedTx: tx.unsignedTx,
    inputs: tx.inputs,
    outputs: tx.outputs,
  }
}

/** sha256 of the canonical proposal body: what every vote signs. */
export function proposalHash(tx: ProposalBody): string {
  return createHash('sha256')
    .update(canonicalJson(proposalBody(tx)))
    .digest('hex')
}

/** Output scripts (hex) of a policy list's addresses, per list and network. */
const listScripts = new WeakMap<string[], { network: BitcoinNetwork; scripts: Set<string> }>()

/**
 * The output scripts of a policy list (allow or deny): every comparison with a destination is
 * made on scripts, so no spelling of an address (upper case bech32, another encoding of the
 * same script) escapes the list. Entries that do not parse for `network` match nothing (the
 * node's configuration refuses them at start).
 */
export function policyScripts(list: string[], network: BitcoinNetwork): Set<string> {
  const hit = listScripts.get(list)
  if (hit?.network === network) return hit.scripts
  const scripts = new Set<string>()
  for (const address of list) {
    try {
      scripts.add(Buffer.from(parseAddress(address, network).scriptPubKey).toString('hex'))
    } catch {
      // not an address of this network: matches nothing
    }
  }
  listScripts.set(list, { network, scripts })
  return scripts
}

/** Why the policy's lists refuse a destination script (hex), or null if they allow it. */
export function listedDestination(policy: Pick<SpendPolicy, 'allow' | 'deny'>, toScript: string, network: BitcoinNetwork): string | null {
  if (policyScripts(policy.deny, network).has(toScript)) return 'destination is on the deny list'
  if (policy.allow.length > 0 && !policyScripts(policy.allow, network).has(toScript)) return 'destination is not on the allow list'
  return null
}

/** What a proposer signs of its proposal (`TxRecord.proposerSignature`). */
export function proposerStatement(hash: string, proposedBy: number): { proposalHash: string; proposedBy: number } {
  return { proposalHash: hash, proposedBy }
}

/** What a voter knows independently of the proposer. */
export interface PolicyContext {
  network: BitcoinNetwork
  policy: SpendPolicy
  /** The voter's own derivation of the wallet's scriptPubKey at a path (hex). */
  scriptAt: (path: number[]) => string
  /** Whether the chain (as this voter sees it) has this unspent output with this value. */
  utxoExists: (txid: string, vout: number, value: number) => boolean
  /** The transaction holding the lock on an outpoint, if any. */
  lockOf: (txid: string, vout: number) => string | undefined
  /** Sats already sent (or in flight) in the last 24 h, not counting this proposal. */
  spentToday: number
}

export type Verdict = { approve: true; reason: null } | { approve: false; reason: string }

/**
 * A voter's check of a proposal (DESIGN §5 step 3): it rebuilds what it can from the
 * unsigned transaction and its own key, and trusts nothing the proposer only asserted.
 */
export function checkProposal(tx: TxRecord, ctx: PolicyContext): Verdict {
  const no = (reason: string): Verdict => ({ approve: false, reason })
  if (proposalHash(tx) !== tx.proposalHash) return no('proposal hash does not match its contents')
  let decoded: ReturnType<typeof decodeTransaction>
  try {
    decoded = decodeTransaction(tx.unsignedTx)
  } catch {
    return no('unsigned transaction does not parse')
  }
  // Destination: a valid address of this network, allowed, and the first output pays it.
  let toScript: string
  try {
    toScript = Buffer.from(parseAddress(tx.to, ctx.network).scriptPubKey).toString('hex')
  } catch (err) {
    return no(`destination: ${(err as BitcoinError).message}`)
  }
  const listed = listedDestination(ctx.policy, toScript, ctx.network)
  if (listed) return no(listed)
  if (!Number.isSafeInteger(tx.amountSats) || tx.amountSats <= 0) return no('amount is not a positive integer')
  if (tx.amountSats > ctx.policy.maxAmountSats) return no(`amount ${tx.amountSats} exceeds the per-transaction limit ${ctx.policy.maxAmountSats}`)
  if (ctx.spentToday + tx.amountSats > ctx.policy.dailyLimitSats) return no(`daily limit ${ctx.policy.dailyLimitSats} sats would be exceeded`)

  // Inputs: exactly the proposal's, each ours (re-derived), unspent on chain, locked for this tx.
  if (decoded.inputs.length !== tx.inputs.length || decoded.inputs.length === 0) return no('inputs do not match the proposal')
  let inSum = 0
  for (const [i, inp] of tx.inputs.entries()) {
    const d = decoded.inputs[i]
    if (d.txid !== inp.txid || d.vout !== inp.vout) return no(`input ${i} does not match the proposal`)
    if (ctx.scriptAt(inp.path) !== inp.scriptPubKey) return no(`input ${i} is not the wallet's output at ${inp.path.join('/')}`)
    if (!ctx.utxoExists(inp.txid, inp.vout, inp.value)) return no(`input ${i} (${inp.txid}:${inp.vout}) is not an unspent output of that value`)
    const lock = ctx.lockOf(inp.txid, inp.vout)
    if (lock !== tx.id) return no(`input ${i} is ${lock ? `reserved by ${lock}` : 'not reserved'}`)
    inSum += inp.value
  }
  // Outputs: the payment first, then at most one change output back to the wallet.
  if (decoded.outputs.length !== tx.outputs.length || decoded.outputs.length < 1 || decoded.outputs.length > 2) {
    return no('outputs do not match the proposal')
  }
  let outSum = 0
  for (const [i, out] of tx.outputs.entries()) {
    const d = decoded.outputs[i]
    if (Buffer.from(d.scriptPubKey).toString('hex') !== out.scriptPubKey || d.value !== out.value) return no(`output ${i} does not match the proposal`)
    outSum += out.value
  }
  const pay = tx.outputs[0]
  if (pay.change || pay.scriptPubKey !== toScript || pay.value !== tx.amountSats) return no('the first output does not pay the destination the amount')
  const change = tx.outputs[1]
  if (change) {
    if (!change.change || !change.path || change.path[0] !== 1) return no('the second output is not a change output')
    if (ctx.scriptAt(change.path) !== change.scriptPubKey) return no('the change output does not pay the wallet')
  }
  // Fee: what the inputs leave, within the caps.
  const fee = inSum - outSum
  if (fee !== tx.feeSats || fee <= 0) return no(`fee ${fee} does not match the proposal's ${tx.feeSats}`)
  if (fee > ctx.policy.maxFeeSats) return no(`fee ${fee} exceeds the cap ${ctx.policy.maxFeeSats}`)
  const vsize = estimateVsize(
    tx.inputs.map(() => tx.type),
    tx.outputs.map((o) => Buffer.from(o.scriptPubKey, 'hex')),
  )
  const rate = fee / vsize
  if (rate < ctx.policy.minFeeRate * 0.99 || rate > ctx.policy.maxFeeRate)
    return no(`fee rate ${rate.toFixed(2)} sat/vB is outside [${ctx.policy.minFeeRate}, ${ctx.policy.maxFeeRate}]`)
  return { approve: true, reason: null }
}
