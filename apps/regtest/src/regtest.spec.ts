// The regtest chain as a wallet sees it: the faucet pays keys this test holds, the test spends
// them back with its own signatures (P2WPKH and Taproot key path), and every kind of bad spend
// is refused with a 400 while the mempool stays as it was. Then restart from the data dir, and
// the bin as devnet will run it.
import * as bitcoin from 'bitcoinjs-lib'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import { FAUCET_ADDRESS, GENESIS_HASH, Regtest, startRegtest } from './index'
import { ECPair, NETWORK } from './network'

const dir = mkdtempSync(join(tmpdir(), 'tw-regtest-spec-'))
let rt: Regtest

before(async () => {
  rt = await startRegtest({ port: 0, dataDir: join(dir, 'chain') })
})
after(async () => {
  await rt?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** An Esplora answer read field by field where a call names no type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON from the chain under test: the assertions check its shape
type Answer = any

async function get(path: string) {
  const r = await fetch(rt.url + path)
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() }
}
async function json<T = Answer>(path: string): Promise<T> {
  const r = await get(path)
  assert.equal(r.status, 200, `${path}: ${r.text}`)
  assert.match(r.type, /application\/json/)
  return JSON.parse(r.text) as T
}
async function post(path: string, body: string) {
  const r = await fetch(rt.url + path, { method: 'POST', body, headers: { 'content-type': path.startsWith('/regtest') ? 'application/json' : 'text/plain' } })
  return { status: r.status, text: await r.text() }
}
async function devPost<T = Answer>(path: string, body: unknown): Promise<T> {
  const r = await post(path, JSON.stringify(body))
  assert.equal(r.status, 200, `${path}: ${r.text}`)
  return JSON.parse(r.text) as T
}
const mine = (blocks = 1, address?: string) => devPost<{ hashes: string[]; height: number }>('/regtest/mine', { blocks, address })
const mempoolTxids = () => json<string[]>('/mempool/txids')

// Keys the test holds.
const wKey = ECPair.makeRandom({ network: NETWORK })
const wpkh = bitcoin.payments.p2wpkh({ pubkey: wKey.publicKey, network: NETWORK })
const tKey = ECPair.makeRandom({ network: NETWORK })
const xonly = tKey.publicKey.subarray(1, 33)
const tr = bitcoin.payments.p2tr({ internalPubkey: xonly, network: NETWORK })
const tweaked = tKey.tweak(bitcoin.crypto.taggedHash('TapTweak', xonly))
const faucetScript = bitcoin.address.toOutputScript(FAUCET_ADDRESS, NETWORK)

interface Utxo {
  txid: string
  vout: number
  value: bigint
}

function spendWpkh(u: Utxo, outs: { script: Uint8Array; value: bigint }[]): bitcoin.Transaction {
  const psbt = new bitcoin.Psbt({ network: NETWORK })
  psbt.addInput({ hash: u.txid, index: u.vout, witnessUtxo: { script: wpkh.output!, value: u.value } })
  for (const o of outs) psbt.addOutput(o)
  psbt.signAllInputs(wKey)
  psbt.finalizeAllInputs()
  return psbt.extractTransaction(true)
}

function spendTr(u: Utxo, outs: { script: Uint8Array; value: bigint }[]): bitcoin.Transaction {
  const psbt = new bitcoin.Psbt({ network: NETWORK })
  psbt.addInput({ hash: u.txid, index: u.vout, witnessUtxo: { script: tr.output!, value: u.value }, tapInternalKey: xonly })
  for (const o of outs) psbt.addOutput(o)
  psbt.signInput(0, tweaked)
  psbt.finalizeAllInputs()
  return psbt.extractTransaction(true)
}

/** P2WPKH spend signed by hand (no PSBT checks), e.g. with outputs above the input. */
function spendWpkhRaw(u: Utxo, out: { script: Uint8Array; value: bigint }): bitcoin.Transaction {
  const tx = new bitcoin.Transaction()
  tx.version = 2
  tx.addInput(Buffer.from(u.txid, 'hex').reverse(), u.vout, 0xfffffffd)
  tx.addOutput(out.script, out.value)
  const scriptCode = bitcoin.payments.p2pkh({ pubkey: wKey.publicKey }).output!
  const hash = tx.hashForWitnessV0(0, scriptCode, u.value, bitcoin.Transaction.SIGHASH_ALL)
  const sig = bitcoin.script.signature.encode(wKey.sign(hash), bitcoin.Transaction.SIGHASH_ALL)
  tx.setWitness(0, [sig, wKey.publicKey])
  return tx
}

/** Taproot key-path spend whose signature commits to `signedValue` instead of the real amount. */
function spendTrSignedOver(u: Utxo, out: { script: Uint8Array; value: bigint }, signedValue: bigint): bitcoin.Transaction {
  const tx = new bitcoin.Transaction()
  tx.version = 2
  tx.addInput(Buffer.from(u.txid, 'hex').reverse(), u.vout, 0xfffffffd)
  tx.addOutput(out.script, out.value)
  const hash = tx.hashForWitnessV1(0, [tr.output!], [signedValue], bitcoin.Transaction.SIGHASH_DEFAULT)
  tx.setWitness(0, [tweaked.signSchnorr(hash)])
  return tx
}

function corruptWitnessSig(tx: bitcoin.Transaction): string {
  const bad = bitcoin.Transaction.fromHex(tx.toHex())
  const sig = Buffer.from(bad.ins[0].witness[0])
  sig[10] ^= 0x01
  bad.ins[0].witness[0] = sig
  return bad.toHex()
}

async function utxoOf(address: string): Promise<Utxo> {
  const list = await json<{ txid: string; vout: number; value: number }[]>(`/address/${address}/utxo`)
  assert.equal(list.length, 1, `${address}: ${JSON.stringify(list)}`)
  return { txid: list[0].txid, vout: list[0].vout, value: BigInt(list[0].value) }
}

/** POST /tx must refuse with 400 and the Esplora/bitcoind error text, leaving the mempool as it was. */
async function refused(txHex: string, pattern: RegExp, rpcCode: number) {
  const before = await mempoolTxids()
  const r = await post('/tx', txHex)
  assert.equal(r.status, 400, r.text)
  assert.match(r.text, /^sendrawtransaction RPC error: \{"code":-?\d+,"message":".*"\}$/)
  const err = JSON.parse(r.text.slice('sendrawtransaction RPC error: '.length)) as { code: number; message: string }
  assert.equal(err.code, rpcCode, r.text)
  assert.match(err.message, pattern)
  assert.deepEqual(await mempoolTxids(), before)
}

let wUtxo: Utxo
let tUtxo: Utxo

test('start: genesis, 101 blocks to the faucet, Esplora shapes', async () => {
  assert.equal((await get('/blocks/tip/height')).text, '101')
  assert.equal((await get('/api/blocks/tip/height')).text, '101')
  assert.equal((await get('/block-height/0')).text, GENESIS_HASH)
  const tipHash = (await get('/blocks/tip/hash')).text
  assert.equal((await get('/block-height/101')).text, tipHash)
  const blk = await json(`/block/${tipHash}`)
  assert.equal(blk.id, tipHash)
  assert.equal(blk.height, 101)
  assert.equal(blk.bits, 0x207fffff)
  assert.equal(blk.tx_count, 1)
  assert.equal(typeof blk.previousblockhash, 'string')
  assert.equal((await json(`/block/${GENESIS_HASH}`)).previousblockhash, null)
  const fees = await json<Record<string, number>>('/fee-estimates')
  assert.equal(Object.keys(fees).length, 28)
  assert.ok(Object.values(fees).every((v) => typeof v === 'number' && v >= 1))
  assert.deepEqual(await json('/mempool'), { count: 0, vsize: 0, total_fee: 0, fee_histogram: [] })
  const info = await json('/regtest/info')
  assert.equal(info.faucet.address, FAUCET_ADDRESS)
  assert.ok(info.faucet.spendableSats >= 50 * 1e8)
  assert.equal((await get('/block-height/102')).status, 404)
  assert.equal((await get('/tx/zz')).status, 400)
  assert.deepEqual(await json(`/tx/${'ab'.repeat(32)}/status`), { confirmed: false })
  const nf = await get('/no/such/route')
  assert.equal(nf.status, 404)
  assert.equal(nf.text, 'endpoint does not exist "/no/such/route"')
})

test('faucet pays P2WPKH and P2TR addresses the test holds; mining confirms', async () => {
  const a = await devPost<{ txid: string }>('/regtest/faucet', { address: wpkh.address, amountSats: 1_000_000 })
  const b = await devPost<{ txid: string }>('/regtest/faucet', { address: tr.address, amountSats: 2_000_000 })
  assert.deepEqual((await mempoolTxids()).sort(), [a.txid, b.txid].sort())
  assert.deepEqual(await json(`/tx/${a.txid}/status`), { confirmed: false })
  const mem = await json(`/address/${wpkh.address}`)
  assert.equal(mem.mempool_stats.funded_txo_sum, 1_000_000)
  const mined = await mine()
  assert.equal(mined.height, 102)
  const st = await json(`/tx/${a.txid}/status`)
  assert.deepEqual(st, { confirmed: true, block_height: 102, block_hash: mined.hashes[0], block_time: st.block_time })
  assert.deepEqual(await mempoolTxids(), [])
  const tx = await json(`/tx/${b.txid}`)
  const out = tx.vout.find((o: { scriptpubkey_address?: string }) => o.scriptpubkey_address === tr.address)
  assert.equal(out.scriptpubkey_type, 'v1_p2tr')
  assert.match(out.scriptpubkey_asm, /^OP_PUSHNUM_1 OP_PUSHBYTES_32 [0-9a-f]{64}$/)
  assert.equal(out.value, 2_000_000)
  assert.equal(tx.vin[0].prevout.scriptpubkey_type, 'v0_p2wpkh')
  assert.ok(tx.fee > 0)
  const block = await json<string[]>(`/block/${mined.hashes[0]}/txids`)
  assert.deepEqual(block.slice(1).sort(), [a.txid, b.txid].sort())
  wUtxo = await utxoOf(wpkh.address!)
  tUtxo = await utxoOf(tr.address!)
  assert.equal(wUtxo.value, 1_000_000n)
  assert.equal(tUtxo.value, 2_000_000n)
  const stats = await json(`/address/${wpkh.address}`)
  assert.deepEqual(stats.chain_stats, { tx_count: 1, funded_txo_count: 1, funded_txo_sum: 1_000_000, spent_txo_count: 0, spent_txo_sum: 0 })
})

test('bad spends are refused with 400 and leave the mempool unchanged', async () => {
  const back = (value: bigint) => [{ script: faucetScript, value }]
  // Malformed.
  await refused('00zz', /TX decode failed/, -22)
  await refused(spendWpkh(wUtxo, back(999_000n)).toHex().slice(0, -2), /TX decode failed/, -22)
  // Corrupted signatures, ECDSA and Schnorr: Core's interpreter says no.
  await refused(corruptWitnessSig(spendWpkh(wUtxo, back(999_000n))), /mandatory-script-verify-flag-failed \(input 0: script verification failed/, -26)
  await refused(corruptWitnessSig(spendTr(tUtxo, back(1_999_000n))), /mandatory-script-verify-flag-failed/, -26)
  // Taproot signature over the wrong prevout amount.
  await refused(spendTrSignedOver(tUtxo, back(1_999_000n)[0], 2_000_001n).toHex(), /mandatory-script-verify-flag-failed/, -26)
  // Outputs exceeding inputs.
  const over = spendWpkhRaw(wUtxo, back(1_000_001n)[0])
  await refused(over.toHex(), /bad-txns-in-belowout, value in \(0\.01000000\) < value out \(0\.01000001\)/, -26)
  // (the same hand-signing path is accepted with sane amounts: the mempool-chain test uses it)
  // A nonexistent output.
  await refused(spendWpkh({ ...wUtxo, vout: 7 }, back(999_000n)).toHex(), /bad-txns-inputs-missingorspent/, -25)
  await refused(spendWpkh({ ...wUtxo, txid: 'cd'.repeat(32) }, back(999_000n)).toHex(), /bad-txns-inputs-missingorspent/, -25)
  // Below the minimum relay fee (0.1 sat/vB since Core 29.1): 10 sats for about 110 vB.
  await refused(spendWpkh(wUtxo, back(999_990n)).toHex(), /min relay fee not met, 10 < 11\b/, -26)
  // Duplicate inputs.
  const dup = new bitcoin.Transaction()
  dup.addInput(Buffer.from(wUtxo.txid, 'hex').reverse(), wUtxo.vout)
  dup.addInput(Buffer.from(wUtxo.txid, 'hex').reverse(), wUtxo.vout)
  dup.addOutput(faucetScript, 1000n)
  await refused(dup.toHex(), /bad-txns-inputs-duplicate/, -26)
})

test('negative and overflowing output amounts are refused', async () => {
  // bitcoinjs will not build these, so patch the serialized output value of a signed spend.
  const tx = spendWpkh(wUtxo, [{ script: faucetScript, value: 999_000n }])
  const raw = Buffer.from(tx.toBuffer())
  const le = (v: bigint) => {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(v)
    return b
  }
  const at = raw.indexOf(Buffer.concat([le(999_000n), Buffer.from([faucetScript.length])]))
  assert.ok(at > 0)
  const patched = (v: bigint) => {
    const b = Buffer.from(raw)
    le(v).copy(b, at)
    return b.toString('hex')
  }
  await refused(patched(-1n), /bad-txns-vout-negative/, -26)
  await refused(patched(21_000_000n * 100_000_000n + 1n), /bad-txns-vout-toolarge/, -26)
  await refused(patched(2n ** 63n - 1n), /bad-txns-vout-toolarge/, -26)
})

test('the test spends its coins back with its own signatures; a double spend is refused', async () => {
  const w = spendWpkh(wUtxo, [{ script: faucetScript, value: 999_000n }])
  const t = spendTr(tUtxo, [{ script: faucetScript, value: 1_999_000n }])
  for (const tx of [w, t]) {
    const r = await post('/tx', tx.toHex())
    assert.equal(r.status, 200, r.text)
    assert.equal(r.text, tx.getId())
    // Idempotent.
    assert.equal((await post('/tx', `${tx.toHex()}\n`)).text, tx.getId())
  }
  assert.deepEqual((await mempoolTxids()).sort(), [w.getId(), t.getId()].sort())
  assert.deepEqual(await json(`/tx/${wUtxo.txid}/outspend/${wUtxo.vout}`), { spent: true, txid: w.getId(), vin: 0, status: { confirmed: false } })
  assert.deepEqual(await json(`/address/${wpkh.address}/utxo`), [])
  // Spending an output already spent in the mempool.
  await refused(spendWpkh(wUtxo, [{ script: faucetScript, value: 998_000n }]).toHex(), /txn-mempool-conflict/, -26)
  const mined = await mine()
  for (const tx of [w, t]) assert.equal((await json(`/tx/${tx.getId()}/status`)).block_hash, mined.hashes[0])
  // Spending an output spent in the chain.
  await refused(spendWpkh(wUtxo, [{ script: faucetScript, value: 998_000n }]).toHex(), /bad-txns-inputs-missingorspent/, -25)
  await refused(spendTr(tUtxo, [{ script: faucetScript, value: 1_998_000n }]).toHex(), /bad-txns-inputs-missingorspent/, -25)
  // Confirmed again: -27.
  assert.match((await post('/tx', w.toHex())).text, /"code":-27/)
  const stats = await json(`/address/${tr.address}`)
  assert.deepEqual(stats.chain_stats, { tx_count: 2, funded_txo_count: 1, funded_txo_sum: 2_000_000, spent_txo_count: 1, spent_txo_sum: 2_000_000 })
  assert.deepEqual(await json(`/address/${tr.address}/utxo`), [])
  const txs = await json<{ txid: string }[]>(`/address/${tr.address}/txs`)
  assert.deepEqual(
    txs.map((x) => x.txid),
    [t.getId(), tUtxo.txid],
  )
})

test('mempool txs may spend mempool outputs; one block mines the chain in order', async () => {
  const f = await devPost<{ txid: string }>('/regtest/faucet', { address: wpkh.address, amountSats: 50_000 })
  const u = await utxoOf(wpkh.address!)
  assert.equal(u.txid, f.txid)
  const child = spendWpkhRaw(u, { script: tr.output!, value: 49_000n })
  assert.equal((await post('/tx', child.toHex())).status, 200)
  assert.deepEqual(await mempoolTxids(), [f.txid, child.getId()])
  const mined = await mine()
  const ids = await json<string[]>(`/block/${mined.hashes[0]}/txids`)
  assert.deepEqual(ids.slice(1), [f.txid, child.getId()])
  tUtxo = await utxoOf(tr.address!)
  assert.equal(tUtxo.value, 49_000n)
})

test('BIP125: a signalling transaction is replaced by one paying a higher rate and the fees it evicts; its child goes with it', async () => {
  const f = await devPost<{ txid: string }>('/regtest/faucet', { address: wpkh.address, amountSats: 100_000 })
  await mine()
  const u = await utxoOf(wpkh.address!)
  assert.equal(u.txid, f.txid)
  // The original (fee 200, signals RBF: nSequence 0xfffffffd) and a child spending its output.
  const original = spendWpkhRaw(u, { script: wpkh.output!, value: 99_800n })
  assert.equal((await post('/tx', original.toHex())).status, 200)
  const child = spendWpkhRaw({ txid: original.getId(), vout: 0, value: 99_800n }, { script: faucetScript, value: 99_600n })
  assert.equal((await post('/tx', child.toHex())).status, 200)
  const vsize = Math.ceil(original.weight() / 4)
  const replace = (fee: bigint) => spendWpkhRaw(u, { script: faucetScript, value: 100_000n - fee })
  // Same rate: refused. Higher rate but less than the 400 sats the original and its child pay: refused.
  await refused(replace(200n).toHex(), /^insufficient fee, rejecting replacement \w{64}; new feerate .* <= old feerate/, -26)
  await refused(replace(300n).toHex(), /less fees than conflicting txs/, -26)
  // Enough fees, but not 0.1 sat/vB more of its own to relay (Core 29.1+'s incremental relay fee): refused.
  const relay = Math.ceil(vsize / 10)
  await refused(replace(BigInt(400 + relay - 1)).toHex(), /not enough additional fees to relay/, -26)
  const winner = replace(BigInt(400 + relay))
  const r = await post('/tx', winner.toHex())
  assert.equal(r.status, 200, r.text)
  assert.deepEqual(await mempoolTxids(), [winner.getId()], 'the original and its child are gone')
  assert.equal((await get(`/tx/${original.getId()}`)).status, 404)
  assert.equal((await get(`/tx/${child.getId()}`)).status, 404)
  assert.deepEqual(await json(`/tx/${child.getId()}/status`), { confirmed: false }, 'as Esplora answers for a transaction it does not know')
  assert.deepEqual(await json(`/tx/${u.txid}/outspend/${u.vout}`), { spent: true, txid: winner.getId(), vin: 0, status: { confirmed: false } })
  // The replaced original cannot come back: its input is spent by the replacement, which pays a higher rate.
  await refused(original.toHex(), /insufficient fee, rejecting replacement/, -26)
  const mined = await mine()
  assert.deepEqual((await json<string[]>(`/block/${mined.hashes[0]}/txids`)).slice(1), [winner.getId()])
})

test('relay fee: Core 29.1+ defaults, 0.1 sat/vB — a spend at 0.5 sat/vB is taken, one below 0.1 sat/vB is not', async () => {
  const f = await devPost<{ txid: string }>('/regtest/faucet', { address: wpkh.address, amountSats: 60_000 })
  await mine()
  const u = await utxoOf(wpkh.address!)
  assert.equal(u.txid, f.txid)
  const spend = (fee: bigint) => spendWpkhRaw(u, { script: faucetScript, value: 60_000n - fee })
  const vsize = Math.ceil(spend(0n).weight() / 4)
  await refused(spend(BigInt(Math.ceil(vsize / 10) - 1)).toHex(), /min relay fee not met/, -26)
  const half = spend(BigInt(Math.ceil(vsize / 2)))
  const r = await post('/tx', half.toHex())
  assert.equal(r.status, 200, r.text)
  const mined = await mine()
  assert.deepEqual((await json<string[]>(`/block/${mined.hashes[0]}/txids`)).slice(1), [half.getId()])
})

test('coinbase matures after 100 blocks', async () => {
  const m = await mine(1, wpkh.address)
  const cbTxid = (await json<string[]>(`/block/${m.hashes[0]}/txids`))[0]
  const cb = await json(`/tx/${cbTxid}`)
  assert.equal(cb.vin[0].is_coinbase, true)
  assert.equal(cb.vin[0].prevout, null)
  const value = BigInt(cb.vout[0].value)
  assert.equal(value, 50n * 100_000_000n) // height 105 < 150: no halving yet
  const spend = spendWpkh({ txid: cbTxid, vout: 0, value }, [{ script: faucetScript, value: value - 1000n }])
  await refused(spend.toHex(), /bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 1$/, -26)
  await mine(98)
  await refused(spend.toHex(), /premature-spend-of-coinbase, tried to spend coinbase at depth 99/, -26)
  await mine(1)
  const r = await post('/tx', spend.toHex())
  assert.equal(r.status, 200, r.text)
})

test('restart from the data dir keeps the tip, the UTXOs and the mempool', async () => {
  const height = (await get('/blocks/tip/height')).text
  const hash = (await get('/blocks/tip/hash')).text
  const utxos = await json(`/address/${tr.address}/utxo`)
  const mempool = await mempoolTxids()
  assert.equal(mempool.length, 1)
  await rt.close()
  rt = await startRegtest({ port: 0, dataDir: join(dir, 'chain') })
  assert.equal((await get('/blocks/tip/height')).text, height)
  assert.equal((await get('/blocks/tip/hash')).text, hash)
  assert.deepEqual(await json(`/address/${tr.address}/utxo`), utxos)
  assert.deepEqual(await mempoolTxids(), mempool)
  // And the chain goes on from there.
  const spend = spendTr(tUtxo, [{ script: wpkh.output!, value: 48_000n }])
  assert.equal((await post('/tx', spend.toHex())).status, 200)
  const m = await mine()
  assert.equal(m.height, Number(height) + 1)
  assert.equal((await json(`/tx/${spend.getId()}/status`)).confirmed, true)
})

test('a torn last block record is dropped on start; the rest replays', async () => {
  const d = join(dir, 'torn')
  const a = await startRegtest({ port: 0, dataDir: d })
  await fetch(`${a.url}/regtest/mine`, { method: 'POST', body: JSON.stringify({ blocks: 2 }) })
  const tip = a.chain.tip.hash
  await a.close()
  const file = join(d, 'blocks.dat')
  const size = statSync(file).size
  appendFileSync(file, Buffer.concat([Buffer.from('fabfb5da', 'hex'), Buffer.from([0xe8, 0x03, 0, 0]), Buffer.alloc(10)]))
  const b = await startRegtest({ port: 0, dataDir: d })
  try {
    assert.equal(b.chain.height, 103)
    assert.equal(b.chain.tip.hash, tip)
    assert.equal(statSync(file).size, size)
  } finally {
    await b.close()
  }
})

test('/regtest routes answer JSON errors', async () => {
  const bad = await post('/regtest/faucet', JSON.stringify({ address: 'nope', amountSats: 1 }))
  assert.equal(bad.status, 400)
  assert.equal(JSON.parse(bad.text).error.code, 'BAD_ADDRESS')
  const big = await post('/regtest/faucet', JSON.stringify({ address: wpkh.address, amountSats: 21e14 }))
  assert.equal(JSON.parse(big.text).error.code, 'INSUFFICIENT_FUNDS')
  const many = await post('/regtest/mine', JSON.stringify({ blocks: 1001 }))
  assert.equal(many.status, 400)
  assert.equal(JSON.parse(many.text).error.code, 'BAD_REQUEST')
  // Scripthash form (esplora-api.md §5 test vector): unreversed sha256 of the scriptPubKey.
  const vector = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
  await devPost('/regtest/faucet', { address: vector, amountSats: 12_345 })
  const sh = await json('/scripthash/8838f796bf4970b148779c05b74b8c49515b322d04035f7faa5d9b2375df2396')
  assert.equal(sh.scripthash, '8838f796bf4970b148779c05b74b8c49515b322d04035f7faa5d9b2375df2396')
  assert.equal(sh.mempool_stats.funded_txo_sum, 12_345)
  assert.equal((await get('/scripthash/xyz')).text, 'Invalid scripthash')
  const wrongNet = await get('/address/bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4/utxo')
  assert.equal(wrongNet.status, 400)
  assert.equal(wrongNet.text, 'Address on invalid network')
})

test('in memory, a second chain starts fresh; the data dir is locked while in use', async () => {
  const mem = await startRegtest({ port: 0 })
  try {
    const r = await fetch(`${mem.url}/blocks/tip/height`)
    assert.equal(await r.text(), '101')
  } finally {
    await mem.close()
  }
  await assert.rejects(startRegtest({ port: 0, dataDir: join(dir, 'chain') }), /in use by process/)
})

test('bin: tw-regtest prints one JSON line, serves, mines on a timer, stops on SIGTERM', async () => {
  const bin = join(__dirname, '..', 'bin', 'tw-regtest.js')
  const child = spawn(process.execPath, [bin, '--port', '0', '--data-dir', join(dir, 'bin-chain'), '--block-interval-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve)
      child.once('exit', () => reject(new Error(`exited before listening: ${stderr}`)))
    })
    const info = JSON.parse(line) as { url: string; port: number; faucet: string }
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(info.faucet, FAUCET_ADDRESS)
    const deadline = Date.now() + 20_000
    let height = 0
    while (Date.now() < deadline && height <= 102) {
      height = Number(await (await fetch(`${info.url}/blocks/tip/height`)).text())
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(height > 102, `timer mined nothing: height ${height}`)
  } finally {
    child.kill('SIGTERM')
  }
  assert.equal(await exited, 0, stderr)
})
