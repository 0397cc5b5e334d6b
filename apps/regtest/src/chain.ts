// The regtest chain: real blocks (proof of work at the regtest limit, BIP34 coinbase, witness
// commitment), a UTXO set, a mempool, and an append-only block file. Every input of every
// transaction, in the mempool or in a replayed block, is checked with Bitcoin Core's consensus
// library (through @tw/native's verifyScript) with all spent outputs, so Taproot is checked too.
//
// Everything here is synchronous: Node runs one request at a time, so there are no races.
import * as bitcoin from 'bitcoinjs-lib'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {
  COIN,
  COINBASE_MATURITY,
  consensus,
  displayHash,
  ECPair,
  HALVING_INTERVAL,
  MAX_BLOCK_WEIGHT,
  MAX_MONEY,
  feeAt,
  INCREMENTAL_RELAY_FEE_SAT_PER_KVB,
  MIN_RELAY_FEE_SAT_PER_KVB,
  NETWORK,
  REGTEST_BITS,
  sha256d,
} from './network'
import { hex } from './script-format'

/** A refusal with bitcoind's RPC error code, rendered by POST /tx as Esplora does. */
export class RejectError extends Error {
  constructor(
    readonly rpcCode: number,
    message: string,
  ) {
    super(message)
  }
}

export interface Prevout {
  script: Buffer
  value: bigint
}

export interface TxRecord {
  txid: string
  tx: bitcoin.Transaction
  raw: Buffer
  /** Output spent by each input; null for the coinbase input. */
  prevouts: (Prevout | null)[]
  fee: bigint
  /** Block height, or undefined while in the mempool. */
  height?: number
  /** Position in its block. */
  index?: number
  weight: number
}

export interface BlockRecord {
  hash: string
  height: number
  block: bitcoin.Block
  raw: Buffer
  txids: string[]
  mediantime: number
}

export interface Coin {
  txid: string
  vout: number
  script: Buffer
  value: bigint
  /** Height of the block that created it; undefined for a mempool output. */
  height?: number
  coinbase: boolean
}

export interface Spend {
  txid: string
  vin: number
}

// Bitcoin Core's regtest genesis block (hash 0f9188f1…2206).
const GENESIS_HEX =
  '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a' +
  'dae5494dffff7f2002000000' +
  '01' +
  '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000'
export const GENESIS_HASH = '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206'

const MAGIC = Buffer.from('fabfb5da', 'hex') // regtest network magic, as record marker
const NULL_HASH = Buffer.alloc(32)
const WITNESS_COMMIT_HEADER = Buffer.from('aa21a9ed', 'hex')

const key = (txid: string, vout: number) => `${txid}:${vout}`

export function subsidy(height: number): bigint {
  const halvings = Math.floor(height / HALVING_INTERVAL)
  return halvings >= 64 ? 0n : (50n * COIN) >> BigInt(halvings)
}

/** The faucet's fixed key: the same on every start, so a data dir keeps its coins. */
export const FAUCET_KEY = ECPair.fromPrivateKey(sha256d(Buffer.from('tw-regtest faucet key v1')), { network: NETWORK })
export const FAUCET_PAYMENT = bitcoin.payments.p2wpkh({ pubkey: FAUCET_KEY.publicKey, network: NETWORK })
export const FAUCET_ADDRESS = FAUCET_PAYMENT.address as string
const FAUCET_SCRIPT = Buffer.from(FAUCET_PAYMENT.output as Uint8Array)

export interface ChainOptions {
  /** Directory for blocks.dat and mempool.dat; in memory when absent. */
  dataDir?: string
  /** Clock in seconds (tests may override). */
  now?: () => number
}

export class Chain {
  readonly blocks: BlockRecord[] = []
  private readonly blockByHash = new Map<string, BlockRecord>()
  /** Confirmed and mempool transactions. */
  private readonly txs = new Map<string, TxRecord>()
  /** Mempool, in acceptance order (which is a valid dependency order). */
  readonly mempool = new Map<string, TxRecord>()
  /** Confirmed unspent outputs. */
  private readonly utxos = new Map<string, Coin>()
  private readonly utxosByScript = new Map<string, Set<string>>()
  /** Spends of confirmed spends and of mempool spends. */
  private readonly chainSpends = new Map<string, Spend>()
  private readonly mempoolSpends = new Map<string, Spend>()
  /** Confirmed txids touching each scriptPubKey (hex), in chain order. */
  private readonly history = new Map<string, string[]>()
  private blockFd?: number
  private readonly now: () => number

  constructor(private readonly opts: ChainOptions = {}) {
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
    const genesis = bitcoin.Block.fromHex(GENESIS_HEX)
    this.connect(genesis, Buffer.from(GENESIS_HEX, 'hex'), { genesis: true })
  }

  // ---------------------------------------------------------------- persistence

  /** Replays the block file (repairing a torn last record), then the saved mempool. */
  open(): void {
    const dir = this.opts.dataDir
    if (!dir) return
    fs.mkdirSync(dir, { recursive: true })
    const file = path.join(dir, 'blocks.dat')
    const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)
    let off = 0
    while (off + 8 <= data.length) {
      if (!data.subarray(off, off + 4).equals(MAGIC)) throw new Error(`${file}: bad record marker at offset ${off}`)
      const len = data.readUInt32LE(off + 4)
      if (off + 8 + len > data.length) break
      const raw = data.subarray(off + 8, off + 8 + len)
      try {
        this.connect(bitcoin.Block.fromBuffer(raw), Buffer.from(raw), {})
      } catch (e) {
        throw new Error(`${file}: block at height ${this.height + 1} does not connect: ${(e as Error).message}`)
      }
      off += 8 + len
    }
    if (off !== data.length) {
      process.stderr.write(`tw-regtest: ${file}: dropping a torn last record (${data.length - off} bytes)\n`)
      fs.truncateSync(file, off)
    }
    this.blockFd = fs.openSync(file, 'a')
    fs.fsyncSync(this.blockFd)
    const mempoolFile = path.join(dir, 'mempool.dat')
    if (fs.existsSync(mempoolFile)) {
      const saved = JSON.parse(fs.readFileSync(mempoolFile, 'utf8')) as string[]
      for (const txHex of saved) {
        try {
          this.acceptTx(txHex, { persist: false })
        } catch (e) {
          process.stderr.write(`tw-regtest: dropping saved mempool tx: ${(e as Error).message}\n`)
        }
      }
      this.saveMempool()
    }
  }

  close(): void {
    if (this.blockFd !== undefined) {
      fs.closeSync(this.blockFd)
      this.blockFd = undefined
    }
  }

  private appendBlocks(raws: Buffer[]): void {
    if (this.blockFd === undefined) return
    const parts: Buffer[] = []
    for (const raw of raws) {
      const head = Buffer.alloc(8)
      MAGIC.copy(head, 0)
      head.writeUInt32LE(raw.length, 4)
      parts.push(head, raw)
    }
    fs.writeSync(this.blockFd, Buffer.concat(parts))
    fs.fsyncSync(this.blockFd)
  }

  private saveMempool(): void {
    const dir = this.opts.dataDir
    if (!dir) return
    const file = path.join(dir, 'mempool.dat')
    const tmp = `${file}.tmp`
    const fd = fs.openSync(tmp, 'w')
    fs.writeSync(fd, JSON.stringify([...this.mempool.values()].map((r) => r.raw.toString('hex'))))
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fs.renameSync(tmp, file)
  }

  // ---------------------------------------------------------------- queries

  get height(): number {
    return this.blocks.length - 1
  }
  get tip(): BlockRecord {
    return this.blocks[this.blocks.length - 1]
  }
  blockAt(height: number): BlockRecord | undefined {
    return this.blocks[height]
  }
  block(hash: string): BlockRecord | undefined {
    return this.blockByHash.get(hash)
  }
  tx(txid: string): TxRecord | undefined {
    return this.txs.get(txid)
  }
  /** Who spends an output: confirmed spender first, else a mempool spender. */
  spender(txid: string, vout: number): Spend | undefined {
    return this.chainSpends.get(key(txid, vout)) ?? this.mempoolSpends.get(key(txid, vout))
  }
  /** Confirmed txids touching a script, oldest first. */
  chainHistory(scriptHex: string): string[] {
    return this.history.get(scriptHex) ?? []
  }
  /** Mempool txs touching a script, in acceptance order. */
  mempoolHistory(scriptHex: string): TxRecord[] {
    return [...this.mempool.values()].filter((r) => touches(r, scriptHex))
  }
  /** Unspent outputs of a script, confirmed and mempool, minus those spent in the mempool. */
  unspent(scriptHex: string): Coin[] {
    const out: Coin[] = []
    for (const k of this.utxosByScript.get(scriptHex) ?? []) {
      if (!this.mempoolSpends.has(k)) out.push(this.utxos.get(k) as Coin)
    }
    for (const r of this.mempool.values()) {
      r.tx.outs.forEach((o, vout) => {
        if (hex(o.script) === scriptHex && !this.mempoolSpends.has(key(r.txid, vout))) {
          out.push({ txid: r.txid, vout, script: Buffer.from(o.script), value: o.value, coinbase: false })
        }
      })
    }
    return out
  }
  /** Median time past of the block at `height`: the median of it and its 10 predecessors. */
  private medianTime(times: number[]): number {
    const s = times.slice(-11).sort((a, b) => a - b)
    return s[Math.floor(s.length / 2)]
  }

  // ---------------------------------------------------------------- validation

  /**
   * Checks a non-coinbase tx against `lookup` (the coins it may spend) at block height
   * `spendHeight`: structure, amounts, duplicate inputs, maturity, fees, and every input's
   * script with Core's interpreter. Returns the spent outputs and the fee.
   */
  private check(tx: bitcoin.Transaction, raw: Buffer, lookup: (txid: string, vout: number) => Coin | RejectError, spendHeight: number) {
    if (tx.ins.length === 0) throw new RejectError(-26, 'bad-txns-vin-empty')
    if (tx.outs.length === 0) throw new RejectError(-26, 'bad-txns-vout-empty')
    if (tx.weight() > MAX_BLOCK_WEIGHT) throw new RejectError(-26, 'bad-txns-oversize')
    if (tx.isCoinbase()) throw new RejectError(-26, 'coinbase')
    let outTotal = 0n
    for (const o of tx.outs) {
      if (o.value < 0n) throw new RejectError(-26, 'bad-txns-vout-negative')
      if (o.value > MAX_MONEY) throw new RejectError(-26, 'bad-txns-vout-toolarge')
      outTotal += o.value
      if (outTotal > MAX_MONEY) throw new RejectError(-26, 'bad-txns-txouttotal-toolarge')
    }
    const seen = new Set<string>()
    const prevouts: Prevout[] = []
    let inTotal = 0n
    for (const input of tx.ins) {
      const txid = displayHash(input.hash)
      const k = key(txid, input.index)
      if (seen.has(k)) throw new RejectError(-26, 'bad-txns-inputs-duplicate')
      seen.add(k)
      if (Buffer.from(input.hash).equals(NULL_HASH) && input.index === 0xffffffff) throw new RejectError(-26, 'bad-txns-prevout-null')
      const coin = lookup(txid, input.index)
      if (coin instanceof RejectError) throw coin
      if (coin.coinbase && coin.height !== undefined && spendHeight - coin.height < COINBASE_MATURITY) {
        throw new RejectError(-26, `bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth ${spendHeight - coin.height}`)
      }
      prevouts.push({ script: coin.script, value: coin.value })
      inTotal += coin.value
      if (coin.value < 0n || inTotal > MAX_MONEY) throw new RejectError(-26, 'bad-txns-inputvalues-outofrange')
    }
    if (inTotal < outTotal) {
      throw new RejectError(-26, `bad-txns-in-belowout, value in (${fmtBtc(inTotal)}) < value out (${fmtBtc(outTotal)})`)
    }
    const spent = prevouts.map((p) => ({ scriptPubkey: p.script, value: Number(p.value) }))
    const checker = consensus()
    for (let i = 0; i < tx.ins.length; i++) {
      try {
        checker.verifyScript(raw, i, spent)
      } catch (e) {
        const err = e as Error & { code?: string }
        throw new RejectError(-26, `mandatory-script-verify-flag-failed (${err.message})`)
      }
    }
    return { prevouts, fee: inTotal - outTotal }
  }

  /**
   * Mempool acceptance for POST /tx. Returns the txid; re-sending a mempool tx returns its txid.
   * Throws RejectError (rendered as a 400) for anything Core would refuse.
   *
   * A transaction the chain already has is answered as Bitcoin Core (behind Esplora) answers
   * it: one in the mempool with its txid (200), a confirmed one with RPC error -27
   * "Transaction already in block chain" (400). Wallets must treat both as "already known".
   */
  acceptTx(txHex: string, opts: { persist?: boolean } = {}): string {
    const body = txHex.trim()
    if (!/^([0-9a-fA-F]{2})+$/.test(body)) throw new RejectError(-22, 'TX decode failed. Make sure the tx has at least one input.')
    const raw = Buffer.from(body, 'hex')
    let tx: bitcoin.Transaction
    try {
      tx = bitcoin.Transaction.fromBuffer(raw)
    } catch (e) {
      throw new RejectError(-22, `TX decode failed: ${(e as Error).message}`)
    }
    if (!Buffer.from(tx.toBuffer()).equals(raw)) throw new RejectError(-22, 'TX decode failed: non-canonical serialization')
    const txid = tx.getId()
    const known = this.txs.get(txid)
    if (known && known.height === undefined) return txid
    if (known) throw new RejectError(-27, 'Transaction already in block chain')
    // Mempool transactions spending the same outputs: replaced if BIP125 allows it, else a conflict.
    const conflicts = new Map<string, TxRecord>()
    const lookup = (ptxid: string, vout: number): Coin | RejectError => {
      const k = key(ptxid, vout)
      const spend = this.mempoolSpends.get(k)
      if (spend) {
        const other = this.mempool.get(spend.txid) as TxRecord
        if (!signalsRbf(other.tx)) return new RejectError(-26, `txn-mempool-conflict (output ${k} already spent by ${spend.txid} in the mempool)`)
        conflicts.set(spend.txid, other)
      }
      const coin = this.utxos.get(k)
      if (coin) return coin
      const parent = this.mempool.get(ptxid)
      if (parent && vout < parent.tx.outs.length) {
        const o = parent.tx.outs[vout]
        return { txid: ptxid, vout, script: Buffer.from(o.script), value: o.value, coinbase: false }
      }
      return new RejectError(-25, `bad-txns-inputs-missingorspent (output ${k} is unknown or already spent)`)
    }
    const { prevouts, fee } = this.check(tx, raw, lookup, this.height + 1)
    const vsize = Math.ceil(tx.weight() / 4)
    const minFee = feeAt(MIN_RELAY_FEE_SAT_PER_KVB, vsize)
    if (fee < minFee) throw new RejectError(-26, `min relay fee not met, ${fee} < ${minFee}`)
    const evicted = conflicts.size > 0 ? this.replacementEvictions(tx, txid, fee, vsize, conflicts) : []
    for (const r of evicted) this.dropFromMempool(r)
    const rec: TxRecord = { txid, tx, raw, prevouts, fee, weight: tx.weight() }
    this.txs.set(txid, rec)
    this.mempool.set(txid, rec)
    tx.ins.forEach((input, vin) => this.mempoolSpends.set(key(displayHash(input.hash), input.index), { txid, vin }))
    if (opts.persist !== false) this.saveMempool()
    return txid
  }

  /**
   * BIP125 replacement (Bitcoin Core's rules, opt-in signalling): `tx` (fee `fee`, `vsize`)
   * replaces the mempool transactions it conflicts with, each signalling replaceability, when
   * it pays a higher fee rate than each of them (Core's PaysMoreThanConflicts), at least their
   * fees and their descendants' (rule 3) plus its own relay fee (rule 4), evicts at most 100
   * transactions (rule 5) and spends no output of what it evicts. Returns what it evicts
   * (conflicts and their descendants), or throws RejectError -26 as Core words it.
   */
  private replacementEvictions(tx: bitcoin.Transaction, txid: string, fee: bigint, vsize: number, conflicts: Map<string, TxRecord>): TxRecord[] {
    for (const c of conflicts.values()) {
      const oldRate = Number(c.fee) / Math.ceil(c.weight / 4)
      const newRate = Number(fee) / vsize
      if (newRate <= oldRate) {
        throw new RejectError(-26, `insufficient fee, rejecting replacement ${txid}; new feerate ${fmtRate(newRate)} <= old feerate ${fmtRate(oldRate)}`)
      }
    }
    // The conflicts and every mempool descendant of them.
    const evicted = new Map(conflicts)
    for (let grew = true; grew;) {
      grew = false
      for (const r of this.mempool.values()) {
        if (evicted.has(r.txid)) continue
        if (r.tx.ins.some((i) => evicted.has(displayHash(i.hash)))) {
          evicted.set(r.txid, r)
          grew = true
        }
      }
    }
    if (evicted.size > 100) throw new RejectError(-26, `too many potential replacements, rejecting replacement ${txid}; too many potential replacements (${evicted.size} > 100)`)
    if (tx.ins.some((i) => evicted.has(displayHash(i.hash)))) {
      throw new RejectError(-26, `bad-txns-spends-conflicting-tx, ${txid} spends conflicting transaction`)
    }
    const oldFees = [...evicted.values()].reduce((n, r) => n + r.fee, 0n)
    if (fee < oldFees) throw new RejectError(-26, `insufficient fee, rejecting replacement ${txid}, less fees than conflicting txs; ${fmtBtc(fee)} < ${fmtBtc(oldFees)}`)
    const relay = feeAt(INCREMENTAL_RELAY_FEE_SAT_PER_KVB, vsize)
    if (fee - oldFees < relay) {
      throw new RejectError(-26, `insufficient fee, rejecting replacement ${txid}, not enough additional fees to relay; ${fmtBtc(fee - oldFees)} < ${fmtBtc(relay)}`)
    }
    return [...evicted.values()]
  }

  /** Removes a mempool transaction (replaced): it is no longer known to the chain. */
  private dropFromMempool(r: TxRecord): void {
    this.mempool.delete(r.txid)
    this.txs.delete(r.txid)
    r.tx.ins.forEach((input) => {
      const k = key(displayHash(input.hash), input.index)
      if (this.mempoolSpends.get(k)?.txid === r.txid) this.mempoolSpends.delete(k)
    })
  }

  // ---------------------------------------------------------------- blocks

  /** Applies a block on the tip; throws (leaving state untouched up to the failing tx) if invalid. */
  private connect(block: bitcoin.Block, raw: Buffer, opts: { genesis?: boolean }): BlockRecord {
    const height = this.blocks.length
    const hash = block.getId()
    const txs = block.transactions ?? []
    if (opts.genesis) {
      if (hash !== GENESIS_HASH) throw new Error('genesis block hash mismatch')
    } else {
      if (displayHash(block.prevHash as Uint8Array) !== this.tip.hash) throw new Error('previous block hash is not the tip')
      if (block.bits !== REGTEST_BITS) throw new Error('bad-diffbits')
      if (!block.checkProofOfWork()) throw new Error('high-hash')
      if (!block.checkTxRoots()) throw new Error('bad-txnmrklroot or bad-witness-merkle-match')
      if (txs.length === 0 || !txs[0].isCoinbase()) throw new Error('bad-cb-missing')
      const expect = Buffer.from(bitcoin.script.compile([bitcoin.script.number.encode(height)]))
      if (!Buffer.from(txs[0].ins[0].script).subarray(0, expect.length).equals(expect)) throw new Error('bad-cb-height')
      const mtp = this.medianTime(this.blocks.map((b) => b.block.timestamp))
      if (block.timestamp <= mtp) throw new Error('time-too-old')
    }
    // Non-coinbase txs, each against the coins as they stand after the previous one.
    const created = new Map<string, Coin>()
    const spentHere = new Set<string>()
    const records: TxRecord[] = []
    let fees = 0n
    txs.forEach((tx, index) => {
      const txid = tx.getId()
      if (index > 0 && tx.isCoinbase()) throw new Error('bad-cb-multiple')
      if (this.txs.get(txid)?.height !== undefined || records.some((r) => r.txid === txid)) throw new Error(`bad-txns-duplicate ${txid}`)
      let prevouts: (Prevout | null)[] = [null]
      let fee = 0n
      const txRaw = Buffer.from(tx.toBuffer())
      if (index > 0 && !opts.genesis) {
        const lookup = (ptxid: string, vout: number): Coin | RejectError => {
          const k = key(ptxid, vout)
          if (spentHere.has(k)) return new RejectError(-25, `bad-txns-inputs-missingorspent (${k})`)
          return this.utxos.get(k) ?? created.get(k) ?? new RejectError(-25, `bad-txns-inputs-missingorspent (${k})`)
        }
        const checked = this.check(tx, txRaw, lookup, height)
        prevouts = checked.prevouts
        fee = checked.fee
        fees += fee
        for (const input of tx.ins) spentHere.add(key(displayHash(input.hash), input.index))
      }
      tx.outs.forEach((o, vout) => {
        if (opts.genesis) return // as in Core, the genesis output is not in the UTXO set
        if (o.script.length > 0 && o.script[0] === 0x6a) return // OP_RETURN: never spendable
        created.set(key(txid, vout), { txid, vout, script: Buffer.from(o.script), value: o.value, height, coinbase: index === 0 })
      })
      records.push({ txid, tx, raw: txRaw, prevouts, fee, height, index, weight: tx.weight() })
    })
    if (!opts.genesis) {
      const cbOut = txs[0].outs.reduce((s, o) => s + o.value, 0n)
      if (cbOut > subsidy(height) + fees) throw new Error(`bad-cb-amount (${cbOut} > ${subsidy(height) + fees})`)
    }
    // Commit.
    const times = this.blocks.map((b) => b.block.timestamp).concat(block.timestamp)
    const rec: BlockRecord = { hash, height, block, raw, txids: records.map((r) => r.txid), mediantime: this.medianTime(times) }
    this.blocks.push(rec)
    this.blockByHash.set(hash, rec)
    for (const r of records) {
      // A mempool tx now confirmed: drop its mempool spends.
      if (this.mempool.delete(r.txid)) {
        r.tx.ins.forEach((input) => this.mempoolSpends.delete(key(displayHash(input.hash), input.index)))
      }
      this.txs.set(r.txid, r)
      const touched = new Set<string>()
      r.tx.ins.forEach((input, vin) => {
        const prev = r.prevouts[vin]
        if (!prev) return
        const k = key(displayHash(input.hash), input.index)
        const coin = this.utxos.get(k)
        if (coin) {
          this.utxos.delete(k)
          this.utxosByScript.get(hex(coin.script))?.delete(k)
        } else {
          created.delete(k) // spent within this block
        }
        this.chainSpends.set(k, { txid: r.txid, vin })
        touched.add(prev.script.toString('hex'))
      })
      r.tx.outs.forEach((o, vout) => {
        const k = key(r.txid, vout)
        touched.add(hex(o.script))
        const coin = created.get(k)
        if (!coin) return
        this.utxos.set(k, coin)
        const s = hex(o.script)
        let set = this.utxosByScript.get(s)
        if (!set) this.utxosByScript.set(s, (set = new Set()))
        set.add(k)
      })
      for (const s of touched) {
        let list = this.history.get(s)
        if (!list) this.history.set(s, (list = []))
        list.push(r.txid)
      }
    }
    // Mempool txs that conflict with the block (cannot happen with our own miner) are evicted.
    this.evictConflicts()
    return rec
  }

  private evictConflicts(): void {
    let changed = true
    while (changed) {
      changed = false
      for (const r of this.mempool.values()) {
        const broken = r.tx.ins.some((input) => {
          const ptxid = displayHash(input.hash)
          const k = key(ptxid, input.index)
          return !this.utxos.has(k) && !this.mempool.has(ptxid)
        })
        if (broken) {
          this.mempool.delete(r.txid)
          this.txs.delete(r.txid)
          r.tx.ins.forEach((input) => this.mempoolSpends.delete(key(displayHash(input.hash), input.index)))
          changed = true
        }
      }
    }
  }

  /** Mines `count` blocks paying `script` (default: the faucet), the first with the whole mempool. */
  mine(count = 1, script: Buffer = FAUCET_SCRIPT): string[] {
    const hashes: string[] = []
    const raws: Buffer[] = []
    try {
      for (let n = 0; n < count; n++) {
        const { block, raw } = this.buildBlock(script)
        const rec = this.connect(block, raw, {})
        raws.push(raw)
        hashes.push(rec.hash)
      }
    } finally {
      // One fsync for the batch; whatever connected is persisted even if a later block failed.
      this.appendBlocks(raws)
      this.saveMempool()
    }
    return hashes
  }

  private buildBlock(payout: Buffer): { block: bitcoin.Block; raw: Buffer } {
    const height = this.height + 1
    const txs = [...this.mempool.values()]
    const fees = txs.reduce((s, r) => s + r.fee, 0n)
    const cb = new bitcoin.Transaction()
    cb.version = 2
    cb.addInput(NULL_HASH, 0xffffffff, 0xffffffff, bitcoin.script.compile([bitcoin.script.number.encode(height), Buffer.from('tw-regtest')]))
    cb.setWitness(0, [Buffer.alloc(32)])
    cb.addOutput(payout, subsidy(height) + fees)
    const all = [cb, ...txs.map((r) => r.tx)]
    const witnessRoot = bitcoin.Block.calculateMerkleRoot(all, true)
    cb.addOutput(bitcoin.script.compile([bitcoin.script.OPS.OP_RETURN, Buffer.concat([WITNESS_COMMIT_HEADER, witnessRoot])]), 0n)
    const block = new bitcoin.Block()
    block.version = 0x20000000
    block.prevHash = Buffer.from(this.tip.block.getHash())
    block.merkleRoot = bitcoin.Block.calculateMerkleRoot(all)
    block.witnessCommit = witnessRoot
    const mtp = this.medianTime(this.blocks.map((b) => b.block.timestamp))
    block.timestamp = Math.max(this.now(), mtp + 1)
    block.bits = REGTEST_BITS
    block.transactions = all
    // Proof of work: hash the header until it is at or below the regtest target.
    const header = Buffer.from(block.toBuffer(true))
    const target = Buffer.from(bitcoin.Block.calculateTarget(REGTEST_BITS))
    for (let nonce = 0; ; nonce++) {
      if (nonce > 0xffffffff) throw new Error('nonce space exhausted') // ~never at regtest difficulty
      header.writeUInt32LE(nonce, 76)
      if (Buffer.compare(sha256d(header).reverse(), target) <= 0) {
        block.nonce = nonce
        break
      }
    }
    return { block, raw: Buffer.from(block.toBuffer()) }
  }

  // ---------------------------------------------------------------- faucet

  /** Coins the faucet can spend now: confirmed mature ones and its own mempool change. */
  faucetCoins(): Coin[] {
    const spendHeight = this.height + 1
    return this.unspent(FAUCET_SCRIPT.toString('hex')).filter((c) => !c.coinbase || spendHeight - (c.height as number) >= COINBASE_MATURITY)
  }

  /** Pays `amountSats` to `script` from the faucet; the signed tx goes through acceptTx. */
  faucet(script: Buffer, amountSats: bigint): string {
    const feeRate = 2n
    const coins = this.faucetCoins().sort((a, b) => (b.value > a.value ? 1 : b.value < a.value ? -1 : 0))
    const chosen: Coin[] = []
    let total = 0n
    const feeFor = (nIn: number) => feeRate * BigInt(11 + 68 * nIn + 43 * 2)
    for (const c of coins) {
      if (total >= amountSats + feeFor(chosen.length)) break
      chosen.push(c)
      total += c.value
    }
    const fee = feeFor(chosen.length)
    if (chosen.length === 0 || total < amountSats + fee) {
      throw new RejectError(-6, `faucet has ${total} sats spendable, needs ${amountSats + fee}: mine more blocks`)
    }
    const psbt = new bitcoin.Psbt({ network: NETWORK })
    for (const c of chosen) {
      psbt.addInput({ hash: c.txid, index: c.vout, sequence: 0xfffffffd, witnessUtxo: { script: c.script, value: c.value } })
    }
    psbt.addOutput({ script, value: amountSats })
    const change = total - amountSats - fee
    if (change >= 546n) psbt.addOutput({ script: FAUCET_SCRIPT, value: change })
    psbt.signAllInputs(FAUCET_KEY)
    psbt.finalizeAllInputs()
    return this.acceptTx(psbt.extractTransaction(true).toHex())
  }
}

function touches(r: TxRecord, scriptHex: string): boolean {
  return r.tx.outs.some((o) => hex(o.script) === scriptHex) || r.prevouts.some((p) => p !== null && p.script.toString('hex') === scriptHex)
}

function fmtBtc(sats: bigint): string {
  const neg = sats < 0n
  const a = neg ? -sats : sats
  return `${neg ? '-' : ''}${a / COIN}.${(a % COIN).toString().padStart(8, '0')}`
}

/** BIP125 opt-in: some input's nSequence is below 0xfffffffe. */
function signalsRbf(tx: bitcoin.Transaction): boolean {
  return tx.ins.some((i) => i.sequence < 0xfffffffe)
}

/** A fee rate in sat/vB as Core prints rates in its messages (BTC/kvB). */
function fmtRate(satPerVb: number): string {
  return `${(satPerVb / 100_000).toFixed(8)} BTC/kvB`
}
