import { createHash } from 'node:crypto'
import { MAX_RECIPIENTS } from '@tw/api'
import { decodeTransaction, dustThreshold, estimateVsize, parseAddress, SEQUENCE_NO_RBF, SEQUENCE_RBF, type BitcoinError } from '@tw/bitcoin'
import type { BitcoinNetwork, SpendPolicy } from '../config/config'
import { canonicalJson } from '../common/canonical-json'
import type { TxRecord } from './wallet.types'

/** The part of a proposal votes are about: everything the transaction and its sighashes depend on. */
export type ProposalBody = Pick<
  TxRecord,
  'id' | 'keyId' | 'type' | 'to' | 'amountSats' | 'recipients' | 'memo' | 'externalId' | 'replacement' | 'consolidation' | 'unsignedTx' | 'inputs' | 'outputs'
>

/**
 * The proposal body of `tx` (only the fields its hash covers). A batch's recipients, the memo
 * and the external id are covered when present; a plain send without them hashes as it always
 * did (canonical JSON drops undefined members).
 */
export function proposalBody(tx: ProposalBody): ProposalBody {
  return {
    id: tx.id,
    keyId: tx.keyId,
    type: tx.type,
    to: tx.to,
    amountSats: tx.amountSats,
    recipients: tx.recipients,
    memo: tx.memo,
    externalId: tx.externalId,
    replacement: tx.replacement,
    consolidation: tx.consolidation,
    unsignedTx: tx.unsignedTx,
    inputs: tx.inputs,
    outputs: tx.outputs,
  }
}

/** The payments of a proposal, in output order: a batch's recipients, else its one payment; none for a cancellation or a consolidation. */
export function paymentsOf(tx: Pick<TxRecord, 'to' | 'amountSats' | 'recipients' | 'replacement' | 'consolidation'>): { to: string; amountSats: number }[] {
  if (tx.replacement?.kind === 'cancel' || tx.consolidation === true) return []
  return tx.recipients ?? [{ to: tx.to, amountSats: tx.amountSats }]
}

/** What the inputs of a proposal leave for the fee, and its estimated size. */
export function proposalFee(p: Pick<ProposalBody, 'type' | 'inputs' | 'outputs'>): { fee: number; vsize: number } {
  const fee = p.inputs.reduce((n, i) => n + i.value, 0) - p.outputs.reduce((n, o) => n + o.value, 0)
  const vsize = estimateVsize(
    p.inputs.map(() => p.type),
    p.outputs.map((o) => Buffer.from(o.scriptPubKey, 'hex')),
  )
  return { fee, vsize }
}

/** nLockTime values from here on are Unix times, below it block heights (BIP65's LOCKTIME_THRESHOLD). */
const LOCKTIME_THRESHOLD = 500_000_000

/** Bitcoin Core's minimum relay fee rate (sat/vB): what a replacement pays on top of the fees it evicts (BIP125 rule 4). */
export const MIN_RELAY_FEE_RATE = 1

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
  /**
   * For a replacement: this node's own approved copies of the transactions it replaces, the
   * one it names first, then what that one replaced (from its approval ledger); empty when this
   * node did not approve the one it names. Undefined: not judged here (the checks every node
   * makes alike, without its ledger).
   */
  replaced?: ProposalBody[]
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
  const replacing = tx.replacement !== undefined ? checkReplacement(tx, ctx) : null
  if (replacing) return no(replacing)
  if (tx.consolidation !== undefined && (tx.consolidation !== true || tx.amountSats !== 0 || tx.recipients !== undefined || tx.replacement !== undefined)) {
    return no('a consolidation pays nothing out')
  }
  // Payments: each to a valid address of this network the lists allow, a positive amount; a
  // batch's first payment is `to` and its payments add up to `amountSats`.
  if (tx.recipients !== undefined) {
    if (!Array.isArray(tx.recipients) || tx.recipients.length < 2 || tx.recipients.length > MAX_RECIPIENTS) return no('a batch has 2..' + MAX_RECIPIENTS + ' recipients')
    if (tx.recipients[0].to !== tx.to) return no('the first recipient is not the destination')
  }
  if (tx.memo !== undefined && (typeof tx.memo !== 'string' || tx.memo.length > 500)) return no('memo is not a string of at most 500 characters')
  if (tx.externalId !== undefined && (typeof tx.externalId !== 'string' || tx.externalId.length > 200)) return no('externalId is not a string of at most 200 characters')
  const payments = paymentsOf(tx)
  const payScripts: string[] = []
  let total = 0
  for (const [i, p] of payments.entries()) {
    const which = payments.length > 1 ? `recipient ${i + 1}` : 'destination'
    let script: string
    try {
      script = Buffer.from(parseAddress(p.to, ctx.network).scriptPubKey).toString('hex')
    } catch (err) {
      return no(`${which}: ${(err as BitcoinError).message}`)
    }
    const listed = listedDestination(ctx.policy, script, ctx.network)
    if (listed) return no(payments.length > 1 ? `${which}: ${listed}` : listed)
    if (!Number.isSafeInteger(p.amountSats) || p.amountSats <= 0) return no(`${payments.length > 1 ? `${which}: ` : ''}amount is not a positive integer`)
    if (p.amountSats < dustThreshold(Buffer.from(script, 'hex'))) return no(`${which}: ${p.amountSats} sats is dust`)
    payScripts.push(script)
    total += p.amountSats
  }
  if (total !== tx.amountSats) return no(`the payments add up to ${total} sats, not the proposal's ${tx.amountSats}`)
  if (tx.amountSats > ctx.policy.maxAmountSats) return no(`amount ${tx.amountSats} exceeds the per-transaction limit ${ctx.policy.maxAmountSats}`)
  // A replacement adds to the day's total only what it pays beyond the transaction it replaces.
  const adds = ctx.replaced?.length ? Math.max(0, tx.amountSats - ctx.replaced[0].amountSats) : tx.amountSats
  if (ctx.spentToday + adds > ctx.policy.dailyLimitSats) return no(`daily limit ${ctx.policy.dailyLimitSats} sats would be exceeded`)

  // The transaction as the wallet builds it: version 2, nLockTime a block height, every input
  // final or signalling replaceability — no relative timelock (BIP68) can hold the coins back.
  if (decoded.version !== 2) return no(`the transaction is version ${decoded.version}, not 2`)
  if (decoded.locktime >= LOCKTIME_THRESHOLD) return no(`nLockTime ${decoded.locktime} is a time, not a block height`)
  const oddSequence = decoded.inputs.findIndex((d) => d.sequence !== SEQUENCE_RBF && d.sequence !== SEQUENCE_NO_RBF)
  if (oddSequence >= 0) return no(`input ${oddSequence} has nSequence 0x${decoded.inputs[oddSequence].sequence.toString(16)}, not one the wallet uses`)
  // Inputs: exactly the proposal's, each ours (re-derived), unspent on chain, locked for this tx.
  if (decoded.inputs.length !== tx.inputs.length || decoded.inputs.length === 0) return no('inputs do not match the proposal')
  let inSum = 0
  for (const [i, inp] of tx.inputs.entries()) {
    const d = decoded.inputs[i]
    if (d.txid !== inp.txid || d.vout !== inp.vout) return no(`input ${i} does not match the proposal`)
    if (ctx.scriptAt(inp.path) !== inp.scriptPubKey) return no(`input ${i} is not the wallet's output at ${inp.path.join('/')}`)
    if (!ctx.utxoExists(inp.txid, inp.vout, inp.value)) return no(`input ${i} (${inp.txid}:${inp.vout}) is not an unspent output of that value`)
    // A replacement shares the reservations of what it replaces.
    const lock = ctx.lockOf(inp.txid, inp.vout)
    if (lock !== tx.id && !(lock !== undefined && ctx.replaced?.some((r) => r.id === lock))) return no(`input ${i} is ${lock ? `reserved by ${lock}` : 'not reserved'}`)
    inSum += inp.value
  }
  // Outputs: the payments first, in order, then at most one change output back to the wallet.
  const k = payments.length
  if (decoded.outputs.length !== tx.outputs.length || decoded.outputs.length < k || decoded.outputs.length > k + 1) {
    return no('outputs do not match the proposal')
  }
  let outSum = 0
  for (const [i, out] of tx.outputs.entries()) {
    const d = decoded.outputs[i]
    if (Buffer.from(d.scriptPubKey).toString('hex') !== out.scriptPubKey || d.value !== out.value) return no(`output ${i} does not match the proposal`)
    outSum += out.value
  }
  for (const [i, p] of payments.entries()) {
    const pay = tx.outputs[i]
    if (pay.change || pay.scriptPubKey !== payScripts[i] || pay.value !== p.amountSats) {
      return no(k > 1 ? `output ${i} does not pay recipient ${i + 1} its amount` : 'the first output does not pay the destination the amount')
    }
  }
  const change = tx.outputs[k]
  if (k === 0 && !change) return no(`a ${tx.consolidation ? 'consolidation' : 'cancellation'} pays its coins back to the wallet in one change output`)
  if (change) {
    if (!change.change || !change.path || change.path[0] !== 1) return no(`output ${k} is not a change output`)
    if (ctx.scriptAt(change.path) !== change.scriptPubKey) return no('the change output does not pay the wallet')
    if (change.value < dustThreshold(Buffer.from(change.scriptPubKey, 'hex'))) return no('the change output is dust')
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
  if (ctx.replaced?.length) {
    // BIP125 as the chain applies it: a higher fee rate, and at least the replaced fee plus its own relay fee.
    const old = proposalFee(ctx.replaced[0])
    if (!(fee / vsize > old.fee / old.vsize) || fee < old.fee + MIN_RELAY_FEE_RATE * vsize) {
      return no(`a replacement pays more than ${(old.fee / old.vsize).toFixed(2)} sat/vB and at least ${old.fee + MIN_RELAY_FEE_RATE * vsize} sats; this one pays ${fee} sats`)
    }
  }
  return { approve: true, reason: null }
}

/**
 * Why a replacement (BIP125 fee bump or cancellation) is refused before its payments are
 * looked at, or null. Every node: a known kind, and a cancellation pays nothing out. With its
 * ledger (`ctx.replaced` defined): it replaces a transaction this node approved, of the same
 * key, spending exactly its inputs; a bump pays exactly what it paid.
 */
function checkReplacement(tx: TxRecord, ctx: PolicyContext): string | null {
  const r = tx.replacement
  if (!r || typeof r.of !== 'string' || (r.kind !== 'bump' && r.kind !== 'cancel')) return 'replacement is not {of, kind: bump | cancel}'
  if (r.of === tx.id) return 'a transaction cannot replace itself'
  if (r.kind === 'cancel' && (tx.amountSats !== 0 || tx.recipients !== undefined)) return 'a cancellation pays nothing out'
  if (ctx.replaced === undefined) return null
  const old = ctx.replaced[0]
  if (!old || old.id !== r.of) return `it replaces transaction ${r.of}, which this node did not approve`
  if (old.keyId !== tx.keyId || old.type !== tx.type) return `it spends with another key than transaction ${r.of}`
  const outpoints = (p: ProposalBody) => JSON.stringify(p.inputs.map((i) => [i.txid, i.vout, i.value, i.scriptPubKey, i.path]))
  if (outpoints(old) !== outpoints(tx)) return `a replacement spends exactly the inputs of transaction ${r.of}`
  if (r.kind === 'bump' && JSON.stringify(paymentsOf(old)) !== JSON.stringify(paymentsOf(tx))) return `a fee bump pays exactly what transaction ${r.of} paid`
  return null
}
