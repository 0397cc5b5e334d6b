import { BitcoinError } from './errors'
import { sha256, toHex } from './hash'
import { baseWeight, dustThreshold, estimateVsize, inputWeight, MAX_MONEY, outputVbytes } from './fees'
import type { KeyType } from './network'

export interface Utxo {
  txid: string
  vout: number
  value: number
  scriptPubKey: Uint8Array
  keyType: KeyType
  path: number[]
}

export interface SelectionRequest {
  utxos: Utxo[]
  outputs: { scriptPubKey: Uint8Array; value: number }[]
  /** sat/vB */
  feeRate: number
  change: { scriptPubKey: Uint8Array; keyType: KeyType; path: number[] }
  /** default 1 sat/vB */
  minFeeRate?: number
  /** default 1000 sat/vB */
  maxFeeRate?: number
  /** absolute fee cap, default 1_000_000 sats */
  maxFeeSats?: number
  /**
   * Long-term fee rate of the waste metric, sat/vB. Default min(feeRate, 10): like Bitcoin Core
   * (-consolidatefeerate 10) above 10 sat/vB, but it never counts extra inputs as a saving, since
   * every input here costs a threshold signature (pass 10 for Core's consolidating behaviour).
   */
  longTermFeeRate?: number
  /** uniform [0, 1); default: a PRNG seeded from the request itself, so equal requests select equally */
  rng?: () => number
}

export interface Selection {
  inputs: Utxo[]
  outputs: { scriptPubKey: Uint8Array; value: number; isChange: boolean; path?: number[] }[]
  fee: number
  vsize: number
  /** 'bnb' (changeless branch and bound), 'coingrinder' (least input weight), 'knapsack' or 'srd' (single random draw) */
  algorithm: string
}

/** Bitcoin Core's DEFAULT_CONSOLIDATE_FEERATE (10 sat/vB): the assumed long-term fee rate in the waste metric. */
export const LONG_TERM_FEE_RATE = 10
/** Core's TOTAL_TRIES for branch and bound. */
const BNB_TOTAL_TRIES = 100_000
/** Core's CHANGE_LOWER / CHANGE_UPPER (coinselection.h). */
const CHANGE_LOWER = 50_000
const CHANGE_UPPER = 1_000_000
const KNAPSACK_ITERATIONS = 1000
/** Standard transactions are at most 400,000 weight units. */
const MAX_STANDARD_VSIZE = 100_000

interface Candidate {
  utxo: Utxo
  /** fee to spend it now (ceil of the fee for its rounded-up vbytes) */
  fee: number
  /** fee to spend it at the long-term fee rate */
  ltFee: number
  /** value - fee */
  eff: number
}

interface Result {
  selected: Candidate[]
  algorithm: string
}

interface Finalized extends Selection {
  waste: number
}

/**
 * Chooses inputs for `outputs` at `feeRate`, Bitcoin Core style: branch and bound for a changeless
 * solution (Murch's algorithm, cost of change as the window); for solutions with change a
 * minimum-weight search (CoinGrinder's objective), Core's knapsack solver and single random draw.
 * The solution with the lowest waste wins, ties in that order.
 * Inputs are returned sorted by (txid, vout); the change output, if any, comes last.
 */
export function selectCoins(req: SelectionRequest): Selection {
  const minFeeRate = req.minFeeRate ?? 1
  const maxFeeRate = req.maxFeeRate ?? 1000
  const maxFeeSats = req.maxFeeSats ?? 1_000_000
  const feeRate = req.feeRate
  if (typeof feeRate !== 'number' || !Number.isFinite(feeRate) || feeRate < minFeeRate || feeRate > maxFeeRate) {
    throw new BitcoinError('FEE_RATE_OUT_OF_BOUNDS', `fee rate ${String(feeRate)} sat/vB is outside [${minFeeRate}, ${maxFeeRate}]`, {
      feeRate,
      minFeeRate,
      maxFeeRate,
    })
  }
  const longTermFeeRate = req.longTermFeeRate ?? Math.min(feeRate, LONG_TERM_FEE_RATE)
  if (typeof longTermFeeRate !== 'number' || !Number.isFinite(longTermFeeRate) || longTermFeeRate < 0) {
    throw new TypeError(`invalid longTermFeeRate ${String(longTermFeeRate)}`)
  }
  if (!Array.isArray(req.outputs) || req.outputs.length === 0) {
    throw new BitcoinError('INVALID_TRANSACTION', 'at least one output is required')
  }
  req.outputs.forEach((o, index) => {
    checkSats(o.value, `output ${index}`)
    const threshold = dustThreshold(o.scriptPubKey)
    if (o.value < threshold) {
      throw new BitcoinError('DUST_OUTPUT', `output ${index} of ${o.value} sats is below the dust threshold of ${threshold}`, {
        index,
        value: o.value,
        threshold,
      })
    }
  })
  const seen = new Set<string>()
  for (const u of req.utxos) {
    checkSats(u.value, `utxo ${u.txid}:${u.vout}`)
    inputWeight(u.keyType)
    const key = `${u.txid}:${u.vout}`
    if (seen.has(key)) throw new BitcoinError('INVALID_TRANSACTION', `utxo ${key} is listed twice`, { utxo: key })
    seen.add(key)
  }
  inputWeight(req.change.keyType)

  const outScripts = req.outputs.map((o) => o.scriptPubKey)
  const sumOut = req.outputs.reduce((n, o) => n + o.value, 0)
  const feeFor = (vbytes: number) => Math.ceil(feeRate * vbytes)
  // Fees are rounded up piecewise, so any set whose effective value reaches `target` also pays
  // ceil(feeRate × ceil(weight / 4)) for the whole transaction (ceil(a + b) ≤ ceil(a) + ceil(b)).
  const nonInputFee = feeFor(Math.ceil(baseWeight(1, outScripts) / 4))
  const target = sumOut + nonInputFee
  const changeOutFee = feeFor(outputVbytes(req.change.scriptPubKey))
  const changeSpendVbytes = Math.ceil(inputWeight(req.change.keyType) / 4)
  const costOfChange = changeOutFee + Math.ceil(longTermFeeRate * changeSpendVbytes)
  const changeDust = dustThreshold(req.change.scriptPubKey)

  const pool: Candidate[] = req.utxos
    .map((utxo) => {
      const vb = Math.ceil(inputWeight(utxo.keyType) / 4)
      const fee = feeFor(vb)
      return { utxo, fee, ltFee: Math.ceil(longTermFeeRate * vb), eff: utxo.value - fee }
    })
    .filter((c) => c.eff > 0)
    .sort((a, b) => b.eff - a.eff || cmpOutpoint(a.utxo, b.utxo))

  const totalEff = pool.reduce((n, c) => n + c.eff, 0)
  if (totalEff < target) {
    const available = req.utxos.reduce((n, u) => n + u.value, 0)
    const needed = target + pool.reduce((n, c) => n + c.fee, 0)
    throw new BitcoinError('INSUFFICIENT_FUNDS', `insufficient funds: ${available} sats available, ${needed} needed`, {
      available,
      needed,
      feeRate,
      spendableUtxos: pool.length,
    })
  }

  const rng = req.rng ?? seededRng(req, feeRate)
  const results: Result[] = []
  const bnb = selectBnB(pool, target, costOfChange)
  if (bnb) results.push({ selected: bnb, algorithm: 'bnb' })
  const grind = selectMinWeight(pool, target + changeOutFee + changeDust)
  if (grind) results.push({ selected: grind, algorithm: 'coingrinder' })
  const changeTarget = knapsackChangeTarget(sumOut, changeOutFee, rng)
  const knap = selectKnapsack(pool, target, changeTarget, rng)
  if (knap) results.push({ selected: knap, algorithm: 'knapsack' })
  const srd = selectSrd(pool, target + changeOutFee + CHANGE_LOWER, rng)
  if (srd) results.push({ selected: srd, algorithm: 'srd' })

  const finalized = results
    .map((r) => finalize(r, req, outScripts, sumOut, feeRate, costOfChange, changeDust))
    .filter((f): f is Finalized => f !== undefined && f.vsize <= MAX_STANDARD_VSIZE)
  if (finalized.length === 0) {
    throw new BitcoinError('INSUFFICIENT_FUNDS', 'no standard-size selection pays for the outputs', {
      available: req.utxos.reduce((n, u) => n + u.value, 0),
      needed: target,
    })
  }
  const affordable = finalized.filter((f) => f.fee <= maxFeeSats)
  if (affordable.length === 0) {
    const fee = Math.min(...finalized.map((f) => f.fee))
    throw new BitcoinError('FEE_TOO_HIGH', `fee of ${fee} sats exceeds the cap of ${maxFeeSats}`, { fee, maxFeeSats, feeRate })
  }
  let best = affordable[0]
  for (const f of affordable) if (f.waste < best.waste) best = f
  const { waste: _waste, ...selection } = best
  return selection
}

/**
 * The least a selection by {@link selectCoins} can leave for the fee when it pays `outScripts`
 * at `feeRate` with coins of `keyType`: one input, no change, rounded up piecewise as the
 * selection rounds. Any selection's inputs hold at least the outputs plus this, so outputs
 * lowered by it are still covered by the coins paying the full outputs (fee out of the amount).
 */
export function leastSelectionFee(keyType: KeyType, outScripts: Uint8Array[], feeRate: number): number {
  return Math.ceil(feeRate * Math.ceil(baseWeight(1, outScripts) / 4)) + Math.ceil(feeRate * Math.ceil(inputWeight(keyType) / 4))
}

function checkSats(v: number, what: string): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > MAX_MONEY) {
    throw new BitcoinError('INVALID_AMOUNT', `${what}: ${String(v)} is not a valid amount in satoshis`, { value: v })
  }
}

function cmpOutpoint(a: Utxo, b: Utxo): number {
  return a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout
}

function finalize(r: Result, req: SelectionRequest, outScripts: Uint8Array[], sumOut: number, feeRate: number, costOfChange: number, changeDust: number): Finalized | undefined {
  const inputs = r.selected.map((c) => c.utxo).sort(cmpOutpoint)
  const kinds = inputs.map((u) => u.keyType)
  const sumIn = inputs.reduce((n, u) => n + u.value, 0)
  const inputWaste = r.selected.reduce((n, c) => n + c.fee - c.ltFee, 0)
  const outputs: Selection['outputs'] = req.outputs.map((o) => ({ scriptPubKey: o.scriptPubKey, value: o.value, isChange: false }))

  if (r.algorithm !== 'bnb') {
    const vsize = estimateVsize(kinds, [...outScripts, req.change.scriptPubKey])
    const change = sumIn - sumOut - Math.ceil(feeRate * vsize)
    if (change >= changeDust) {
      outputs.push({ scriptPubKey: req.change.scriptPubKey, value: change, isChange: true, path: [...req.change.path] })
      return { inputs, outputs, fee: sumIn - sumOut - change, vsize, algorithm: r.algorithm, waste: inputWaste + costOfChange }
    }
  }
  // No change (branch and bound's window, or change below dust): the excess goes to the fee.
  const vsize = estimateVsize(kinds, outScripts)
  const fee = sumIn - sumOut
  if (fee < Math.ceil(feeRate * vsize)) return undefined
  return { inputs, outputs, fee, vsize, algorithm: r.algorithm, waste: inputWaste + fee - Math.ceil(feeRate * vsize) }
}

/**
 * Branch and bound (Bitcoin Core's SelectCoinsBnB): depth-first search over include/omit of the
 * candidates sorted by descending effective value for a set in [target, target + costOfChange],
 * minimising waste; skips equivalent omission branches and gives up after 100,000 tries.
 */
function selectBnB(pool: Candidate[], target: number, costOfChange: number): Candidate[] | undefined {
  let currValue = 0
  let currWaste = 0
  let currAvailable = pool.reduce((n, c) => n + c.eff, 0)
  if (currAvailable < target || pool.length === 0) return undefined
  const curr: number[] = []
  let best: number[] | undefined
  let bestWaste = Number.MAX_SAFE_INTEGER
  const feerateHigh = pool[0].fee > pool[0].ltFee

  for (let tries = 0, i = 0; tries < BNB_TOTAL_TRIES; tries++, i++) {
    let backtrack = false
    if (currValue + currAvailable < target || currValue > target + costOfChange || (currWaste > bestWaste && feerateHigh)) {
      backtrack = true
    } else if (currValue >= target) {
      const waste = currWaste + (currValue - target)
      if (waste <= bestWaste) {
        best = [...curr]
        bestWaste = waste
      }
      backtrack = true
    }
    if (backtrack) {
      if (curr.length === 0) break
      // Put the omitted candidates after the last included one back into the lookahead, then omit it.
      for (--i; i > curr[curr.length - 1]; --i) currAvailable += pool[i].eff
      const c = pool[i]
      currValue -= c.eff
      currWaste -= c.fee - c.ltFee
      curr.pop()
    } else {
      const c = pool[i]
      currAvailable -= c.eff
      const prev = pool[i - 1]
      // Omitting a candidate equal to the previous omitted one would repeat an explored branch.
      if (curr.length === 0 || i - 1 === curr[curr.length - 1] || c.eff !== prev.eff || c.fee !== prev.fee) {
        curr.push(i)
        currValue += c.eff
        currWaste += c.fee - c.ltFee
      }
    }
  }
  return best?.map((i) => pool[i])
}

/**
 * CoinGrinder's objective (Bitcoin Core 27): the input set of least weight whose effective value
 * covers `target` (outputs, fees and a viable change output), ties broken by the smaller excess.
 * Depth-first over the candidates by descending effective value with the lookahead and weight
 * bounds, equivalent-branch skipping, and Core's 100,000-try budget. Fewest inputs for one key type.
 */
function selectMinWeight(pool: Candidate[], target: number): Candidate[] | undefined {
  const n = pool.length
  const weight = pool.map((c) => inputWeight(c.utxo.keyType))
  const suffixEff: number[] = new Array(n + 1).fill(0)
  const suffixMinWeight: number[] = new Array(n + 1).fill(Number.POSITIVE_INFINITY)
  for (let i = n - 1; i >= 0; i--) {
    suffixEff[i] = suffixEff[i + 1] + pool[i].eff
    suffixMinWeight[i] = Math.min(suffixMinWeight[i + 1], weight[i])
  }
  if (suffixEff[0] < target) return undefined
  let best: number[] | undefined
  let bestWeight = Number.POSITIVE_INFINITY
  let bestEff = Number.POSITIVE_INFINITY
  let tries = 0
  const curr: number[] = []
  const visit = (i: number, w: number, eff: number): void => {
    if (++tries > BNB_TOTAL_TRIES) return
    if (eff >= target) {
      if (w < bestWeight || (w === bestWeight && eff < bestEff)) {
        best = [...curr]
        bestWeight = w
        bestEff = eff
      }
      return
    }
    if (i >= n || eff + suffixEff[i] < target || w + suffixMinWeight[i] > bestWeight) return
    curr.push(i)
    visit(i + 1, w + weight[i], eff + pool[i].eff)
    curr.pop()
    // Omitting i and then including an identical next candidate would repeat the branch just explored.
    let j = i + 1
    while (j < n && pool[j].eff === pool[i].eff && weight[j] === weight[i]) j++
    visit(j, w, eff)
  }
  visit(0, 0, 0)
  return best?.map((i) => pool[i])
}

/** Core's GenerateChangeTarget: a randomised minimum change so change amounts don't fingerprint the wallet. */
function knapsackChangeTarget(payment: number, changeFee: number, rng: () => number): number {
  if (payment <= CHANGE_LOWER / 2) return changeFee + CHANGE_LOWER
  const upper = Math.min(2 * payment, CHANGE_UPPER)
  return changeFee + CHANGE_LOWER + Math.floor(rng() * Math.max(0, upper - CHANGE_LOWER + 1))
}

/** Core's KnapsackSolver with ApproximateBestSubset (1000 stochastic passes), on effective values. */
function selectKnapsack(pool: Candidate[], target: number, changeTarget: number, rng: () => number): Candidate[] | undefined {
  const groups = shuffle([...pool], rng)
  const applicable: Candidate[] = []
  let totalLower = 0
  let lowestLarger: Candidate | undefined
  for (const g of groups) {
    if (g.eff === target) return [g]
    if (g.eff < target + changeTarget) {
      applicable.push(g)
      totalLower += g.eff
    } else if (!lowestLarger || g.eff < lowestLarger.eff) {
      lowestLarger = g
    }
  }
  if (totalLower === target) return applicable
  if (totalLower < target) return lowestLarger ? [lowestLarger] : undefined

  applicable.sort((a, b) => b.eff - a.eff || cmpOutpoint(a.utxo, b.utxo))
  let { best, bestValue } = approximateBestSubset(applicable, totalLower, target, rng)
  if (bestValue !== target && totalLower >= target + changeTarget) {
    ;({ best, bestValue } = approximateBestSubset(applicable, totalLower, target + changeTarget, rng))
  }
  if (lowestLarger && ((bestValue !== target && bestValue < target + changeTarget) || lowestLarger.eff <= bestValue)) {
    return [lowestLarger]
  }
  return applicable.filter((_, i) => best[i])
}

function approximateBestSubset(groups: Candidate[], totalLower: number, target: number, rng: () => number): { best: boolean[]; bestValue: number } {
  let best = groups.map(() => true)
  let bestValue = totalLower
  for (let rep = 0; rep < KNAPSACK_ITERATIONS && bestValue !== target; rep++) {
    const included = groups.map(() => false)
    let total = 0
    let reached = false
    for (let pass = 0; pass < 2 && !reached; pass++) {
      for (let i = 0; i < groups.length; i++) {
        // First pass: random inclusion; second pass: everything not yet included.
        if (pass === 0 ? rng() < 0.5 : !included[i]) {
          total += groups[i].eff
          included[i] = true
          if (total >= target) {
            reached = true
            if (total < bestValue) {
              bestValue = total
              best = [...included]
            }
            total -= groups[i].eff
            included[i] = false
          }
        }
      }
    }
  }
  return { best, bestValue }
}

/** Core's SelectCoinsSRD: candidates in random order until the effective value reaches the target. */
function selectSrd(pool: Candidate[], target: number, rng: () => number): Candidate[] | undefined {
  const selected: Candidate[] = []
  let value = 0
  for (const c of shuffle([...pool], rng)) {
    selected.push(c)
    value += c.eff
    if (value >= target) return selected
  }
  return undefined
}

function shuffle<T>(a: T[], rng: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

/** sfc32 seeded with sha256 of the request's coins, outputs, change and fee rate. */
function seededRng(req: SelectionRequest, feeRate: number): () => number {
  const text = JSON.stringify({
    u: [...req.utxos].sort(cmpOutpoint).map((u) => [u.txid, u.vout, u.value]),
    o: req.outputs.map((o) => [toHex(o.scriptPubKey), o.value]),
    c: toHex(req.change.scriptPubKey),
    f: feeRate,
  })
  const h = sha256(new TextEncoder().encode(text))
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength)
  let a = v.getUint32(0)
  let b = v.getUint32(4)
  let c = v.getUint32(8)
  let d = v.getUint32(12)
  return () => {
    a |= 0
    b |= 0
    c |= 0
    d |= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}
