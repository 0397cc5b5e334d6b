import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import { FakeWalletNode } from '../testing/fake-wallet-node'
import { runCommand } from '../testing/run-command'
import Send, { SendResult } from './send'
import UtxoConsolidate from './utxo/consolidate'

type ErrorJson = { error: { code: string; message: string; details?: unknown } }
const node = new FakeWalletNode()
const FAST = ['--poll-interval', '10']
const base = (): string[] => ['--node', node.url, '--to', 'bcrt1qdest', ...FAST]

before(async () => void (await node.start()))
after(() => node.close())
beforeEach(() => node.reset())

for (const [amount, why] of [
  ['0', 'zero'],
  ['-5', 'negative'],
  ['1.5', 'fractional'],
  ['abc', 'not a number'],
  ['2100000000000001', 'over 21M BTC'],
]) {
  test(`send --amount ${amount} (${why}) is INVALID_AMOUNT, exit 2, nothing sent`, async () => {
    const r = await runCommand(Send, [...base(), '--amount', amount, '--json'])
    assert.equal(r.exitCode, 2)
    const e = JSON.parse(r.stdout) as ErrorJson
    assert.equal(e.error.code, 'INVALID_AMOUNT')
    assert.match(e.error.message, /--amount/)
    assert.equal(node.requests.length, 0)
  })
}

for (const rate of ['0', '-1', 'fast', '0.0']) {
  test(`send --fee-rate ${rate} is INVALID_FEE_RATE, exit 2, nothing sent`, async () => {
    const r = await runCommand(Send, [...base(), '--amount', '1000', '--fee-rate', rate])
    assert.equal(r.exitCode, 2)
    assert.match(r.stderr.trim().split('\n').pop() ?? '', /^Error \(INVALID_FEE_RATE\): --fee-rate must be a number of sat\/vB greater than 0/)
    assert.equal(node.requests.length, 0)
  })
}

test('send --type must be segwit or taproot; --to is required', async () => {
  const t = await runCommand(Send, [...base(), '--amount', '1000', '--type', 'legacy', '--json'])
  assert.equal(t.exitCode, 2)
  assert.equal((JSON.parse(t.stdout) as ErrorJson).error.code, 'INVALID_FLAGS')
  const m = await runCommand(Send, ['--node', node.url, '--amount', '1000', '--json'])
  assert.equal(m.exitCode, 2)
  assert.equal(node.requests.length, 0)
})

test('send walks pending → broadcast, shows each state on stderr and prints the txid', async () => {
  const r = await runCommand(Send, [...base(), '--amount', '50000', '--fee-rate', '2.5'])
  assert.equal(r.exitCode, 0, r.stderr)
  for (const s of ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast']) {
    assert.match(r.stderr, new RegExp(`Following transaction tx-1\\.\\.\\. ${s}\\n`), `progress shows ${s}`)
  }
  assert.match(r.stderr, /Idempotency key: [0-9a-f-]{36} /)
  assert.match(r.stdout, new RegExp(`^Txid:\\s+${'bb'.repeat(32)}$`, 'm'))
  assert.match(r.stdout, /^Fee:\s+282 sats \(2\.5 sat\/vB\)$/m)
  assert.match(r.stdout, /^Vsize:\s+141 vB$/m)
  assert.match(r.stdout, /^Signers:\s+1, 2, 3, 4$/m)
  assert.match(r.stdout, /^Signing mode:\s+presignature$/m)
  const post = node.calls('POST', '/api/v1/transactions')[0]
  assert.deepEqual(post.body, { to: 'bcrt1qdest', amountSats: 50000, type: 'segwit', feeRate: 2.5 })
})

test('send --json: {idempotencyKey, retried, states, transaction}; the key goes out as the Idempotency-Key header', async () => {
  const r = await runCommand<SendResult>(Send, [...base(), '--amount', '1000', '--type', 'taproot', '--idempotency-key', 'order-42', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as SendResult
  assert.deepEqual(Object.keys(out).sort(), ['idempotencyKey', 'retried', 'states', 'transaction'])
  assert.equal(out.idempotencyKey, 'order-42')
  assert.equal(out.retried, false)
  assert.deepEqual(out.states, ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast'])
  assert.equal(out.transaction.state, 'broadcast')
  assert.equal(out.transaction.txid, 'bb'.repeat(32))
  assert.equal(out.transaction.signingMode, 'frost')
  assert.equal(node.calls('POST', '/api/v1/transactions')[0].headers['idempotency-key'], 'order-42')
})

test('a network error on POST is retried once with the same idempotency key', async () => {
  node.dropPosts = 1
  const r = await runCommand<SendResult>(Send, [...base(), '--amount', '1000', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as SendResult
  assert.equal(out.retried, true)
  const posts = node.calls('POST', '/api/v1/transactions')
  assert.equal(posts.length, 2)
  assert.match(String(posts[0].headers['idempotency-key']), /^[0-9a-f-]{36}$/)
  assert.equal(posts[1].headers['idempotency-key'], posts[0].headers['idempotency-key'])
  assert.equal(out.idempotencyKey, posts[0].headers['idempotency-key'])
  assert.match(r.stderr, /retrying once with the same idempotency key/)
  assert.equal(node.txs.size, 1)
})

test('two network errors on POST: one retry only, then NODE_UNREACHABLE', async () => {
  node.dropPosts = 2
  const r = await runCommand(Send, [...base(), '--amount', '1000', '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as ErrorJson).error.code, 'NODE_UNREACHABLE')
  assert.equal(node.calls('POST', '/api/v1/transactions').length, 2)
})

test('sending again with the same key returns the same transaction', async () => {
  const a = JSON.parse((await runCommand(Send, [...base(), '--amount', '1000', '--idempotency-key', 'k1', '--json'])).stdout) as SendResult
  const b = JSON.parse((await runCommand(Send, [...base(), '--amount', '1000', '--idempotency-key', 'k1', '--json'])).stdout) as SendResult
  assert.equal(a.transaction.id, b.transaction.id)
  assert.equal(node.txs.size, 1)
})

test("a rejected transaction is TX_REJECTED with the node's reason, exit 1", async () => {
  node.script = ['pending', 'voting', 'rejected']
  const r = await runCommand(Send, [...base(), '--amount', '1000'])
  assert.equal(r.exitCode, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr.trim().split('\n').pop() ?? '', /^Error \(TX_REJECTED\): Transaction tx-1 rejected: 3 of 5 nodes rejected: amount over limit \(POLICY_VIOLATION\)$/)
  assert.match(r.stderr, /Following transaction tx-1\.\.\. voting\n/)
  const j = await runCommand(Send, [...base(), '--amount', '1000', '--json'])
  assert.equal(j.exitCode, 1)
  const e = JSON.parse(j.stdout) as ErrorJson & { error: { details: { transaction: { state: string } } } }
  assert.equal(e.error.code, 'TX_REJECTED')
  assert.equal(e.error.details.transaction.state, 'rejected')
})

test('failed and expired end as TX_FAILED and TX_EXPIRED', async () => {
  for (const state of ['failed', 'expired'] as const) {
    node.reset()
    node.script = ['pending', 'voting', 'approved', 'signing', state]
    node.failure = { code: 'SIGNING_TIMEOUT', message: 'signers 3 and 5 timed out' }
    const r = await runCommand(Send, [...base(), '--amount', '1000', '--json'])
    assert.equal(r.exitCode, 1)
    const e = JSON.parse(r.stdout) as ErrorJson
    assert.equal(e.error.code, `TX_${state.toUpperCase()}`)
    assert.match(e.error.message, new RegExp(`${state}: signers 3 and 5 timed out`))
  }
})

test('send --no-wait returns once the node accepted it', async () => {
  const r = await runCommand(Send, [...base(), '--amount', '1000', '--no-wait'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Transaction tx-1 accepted \(state pending\)/)
  assert.equal(node.calls('GET', '/api/v1/transactions/').length, 0)
})

test('send --confirmations 2 waits for confirmed with 2 confirmations', async () => {
  node.script = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed']
  node.confirmationsAtEnd = 2
  const r = await runCommand<SendResult>(Send, [...base(), '--amount', '1000', '--confirmations', '2', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as SendResult
  assert.equal(out.transaction.state, 'confirmed')
  assert.equal(out.transaction.confirmations, 2)
  assert.equal(out.states[out.states.length - 1], 'confirmed')
})

test('send --timeout: a transaction stuck in voting is TX_TIMEOUT, exit 3 (it may still complete: unlike a rejection)', async () => {
  node.script = ['pending', 'voting']
  const r = await runCommand(Send, ['--node', node.url, '--to', 'bcrt1qdest', '--amount', '1000', '--timeout', '1', '--poll-interval', '100', '--json'])
  assert.equal(r.exitCode, 3)
  const e = JSON.parse(r.stdout) as ErrorJson
  assert.equal(e.error.code, 'TX_TIMEOUT')
  assert.match(e.error.message, /still voting after 1 s/)
})

test('an error answer from the node keeps its code (INSUFFICIENT_FUNDS), one line, exit 1', async () => {
  node.postError = { status: 422, code: 'INSUFFICIENT_FUNDS', message: 'need 50282 sats, 1000 spendable' }
  const r = await runCommand(Send, [...base(), '--amount', '50000'])
  assert.equal(r.exitCode, 1)
  assert.match(r.stderr.trim().split('\n').pop() ?? '', /^Error \(INSUFFICIENT_FUNDS\): need 50282 sats, 1000 spendable \(HTTP 422\)$/)
  assert.equal(node.calls('POST', '/api/v1/transactions').length, 1, 'an answered error is not retried')
})

test('an unreachable node is NODE_UNREACHABLE after one retry', async () => {
  const r = await runCommand(Send, ['--node', 'http://127.0.0.1:1', '--to', 'x', '--amount', '1', ...FAST, '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as ErrorJson).error.code, 'NODE_UNREACHABLE')
})

test('--idempotency-key must be 1-200 printable ASCII characters without spaces (as the node checks)', async () => {
  for (const key of ['has space', 'x'.repeat(201), 'ünïcode']) {
    const r = await runCommand(Send, [...base(), '--amount', '1000', '--idempotency-key', key, '--json'])
    assert.equal(r.exitCode, 2)
    assert.equal((JSON.parse(r.stdout) as ErrorJson).error.code, 'INVALID_IDEMPOTENCY_KEY')
  }
  assert.equal(node.requests.length, 0)
})

test('send --dry-run asks for a quote only: no transaction is posted, the coins, fee and change are printed', async () => {
  const d = await runCommand(Send, [...base(), '--amount', '50000', '--fee-rate', '3', '--dry-run'])
  assert.equal(d.exitCode, 0, d.stderr)
  assert.deepEqual(
    node.requests.map((c) => `${c.method} ${c.url}`),
    ['POST /api/v1/transactions/quote'],
    'a quote, no send',
  )
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/quote')[0]?.body, { to: 'bcrt1qdest', amountSats: 50_000, type: 'segwit', feeRate: 3 })
  assert.match(d.stdout, /^Dry run:\s+nothing reserved or sent/m)
  assert.match(d.stdout, /^Fee:\s+423 sats \(3 sat\/vB\)$/m)
  assert.match(d.stdout, new RegExp(`^Input 1:\\s+${'c1'.repeat(32)}:0 \\(100000000 sats, m/0/0\\)$`, 'm'))
  assert.match(d.stdout, /^Change:\s+99949577 sats to bcrt1qchange7$/m)
  assert.match(d.stdout, /^Signing mode:\s+presignature$/m)
  assert.doesNotMatch(d.stderr, /Idempotency key/)
})

test('send --dry-run --json prints the quote; a refused quote keeps its code', async () => {
  const j = await runCommand(Send, [...base(), '--amount', '1000', '--type', 'taproot', '--dry-run', '--json'])
  assert.equal(j.exitCode, 0, j.stderr)
  const q = JSON.parse(j.stdout) as { feeSats: number; signingMode: string; outputs: { address: string }[] }
  assert.equal(q.signingMode, 'frost')
  assert.equal(q.outputs[0].address, 'bcrt1qdest')
  node.postError = { status: 422, code: 'INSUFFICIENT_FUNDS', message: 'need 1000 more sats' }
  const e = await runCommand(Send, [...base(), '--amount', '1000', '--dry-run', '--json'])
  assert.equal(e.exitCode, 1)
  assert.equal((JSON.parse(e.stdout) as ErrorJson).error.code, 'INSUFFICIENT_FUNDS')
})

test('send --dry-run and --idempotency-key together are refused (a quote has no key)', async () => {
  const r = await runCommand(Send, [...base(), '--amount', '1000', '--dry-run', '--idempotency-key', 'k1', '--json'])
  assert.equal(r.exitCode, 2)
  assert.equal(node.requests.length, 0)
})

test('send --priority and --target-blocks ask the node for an estimate at that target; --max-fee-rate caps it; --fee-rate excludes both', async () => {
  const low = await runCommand(Send, [...base(), '--amount', '1000', '--priority', 'low', '--max-fee-rate', '5', '--dry-run', '--json'])
  assert.equal(low.exitCode, 0, low.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/quote').pop()?.body, { to: 'bcrt1qdest', amountSats: 1000, type: 'segwit', targetBlocks: 144, maxFeeRate: 5 })
  const t = await runCommand(Send, [...base(), '--amount', '1000', '--target-blocks', '3', '--dry-run', '--json'])
  assert.equal(t.exitCode, 0, t.stderr)
  assert.equal((node.calls('POST', '/api/v1/transactions/quote').pop()?.body as { targetBlocks?: number }).targetBlocks, 3)
  const before = node.requests.length
  for (const args of [
    ['--fee-rate', '2', '--priority', 'high'],
    ['--fee-rate', '2', '--target-blocks', '2'],
    ['--target-blocks', '0'],
    ['--max-fee-rate', '0'],
  ]) {
    const r = await runCommand(Send, [...base(), '--amount', '1000', ...args, '--json'])
    assert.equal(r.exitCode, 2, args.join(' '))
  }
  assert.equal(node.requests.length, before, 'nothing sent')
})

const noTo = (): string[] => ['--node', node.url, ...FAST]

test('send --to <address>:<sats> repeated is one batch payout: recipients in order, printed one per line, memo and external id sent and shown', async () => {
  const r = await runCommand(Send, [
    ...noTo(),
    '--to',
    'bcrt1qa:25000',
    '--to',
    'bcrt1qb:40000',
    '--to',
    'bcrt1qc:1000',
    '--memo',
    'March payroll',
    '--external-id',
    'payroll-2026-03',
  ])
  assert.equal(r.exitCode, 0, r.stderr)
  const body = node.calls('POST', '/api/v1/transactions')[0]?.body
  assert.deepEqual(body, {
    recipients: [
      { to: 'bcrt1qa', amountSats: 25_000 },
      { to: 'bcrt1qb', amountSats: 40_000 },
      { to: 'bcrt1qc', amountSats: 1_000 },
    ],
    type: 'segwit',
    memo: 'March payroll',
    externalId: 'payroll-2026-03',
  })
  assert.match(r.stderr, /Sending 3 payments, 66000 sats/)
  assert.match(r.stdout, /^Total:\s+66000 sats to 3 recipients$/m)
  assert.match(r.stdout, /^Payment 2:\s+40000 sats to bcrt1qb$/m)
  assert.match(r.stdout, /^Memo:\s+March payroll$/m)
  assert.match(r.stdout, /^External id:\s+payroll-2026-03$/m)
})

test('send --csv reads "address,sats" lines (header, comments and blank lines skipped) with any --to <address>:<sats>; a bad line is named', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-csv-'))
  const file = path.join(dir, 'payouts.csv')
  writeFileSync(file, 'address,amount\n# March\nbcrt1qa,25000\r\n\n"bcrt1qb", 40000\n')
  const r = await runCommand(Send, [...noTo(), '--to', 'bcrt1qz:5000', '--csv', file, '--subtract-fee', '--dry-run', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/quote')[0]?.body, {
    recipients: [
      { to: 'bcrt1qz', amountSats: 5_000 },
      { to: 'bcrt1qa', amountSats: 25_000 },
      { to: 'bcrt1qb', amountSats: 40_000 },
    ],
    type: 'segwit',
    subtractFeeFromAmount: true,
  })
  writeFileSync(file, 'bcrt1qa,25000\nbcrt1qb,4.5\n')
  const bad = await runCommand(Send, [...noTo(), '--csv', file, '--json'])
  assert.equal(bad.exitCode, 2)
  assert.match((JSON.parse(bad.stdout) as ErrorJson).error.message, /payouts\.csv line 2/)
  const missing = await runCommand(Send, [...noTo(), '--csv', path.join(dir, 'nope.csv'), '--json'])
  assert.equal(missing.exitCode, 2)
  assert.equal((JSON.parse(missing.stdout) as ErrorJson).error.code, 'FILE_UNREADABLE')
  assert.deepEqual(
    node.requests.map((c) => c.url),
    ['/api/v1/transactions/quote'],
    'the bad files sent nothing',
  )
})

test('send --amount max asks for every spendable coin to one address; the fee comes out of it', async () => {
  const r = await runCommand(Send, [...base(), '--amount', 'max', '--fee-rate', '2', '--dry-run'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/quote')[0]?.body, { to: 'bcrt1qdest', amountSats: 'max', type: 'segwit', feeRate: 2 })
  assert.match(r.stderr, /Quoting the maximum to bcrt1qdest/)
  assert.match(r.stdout, /^Amount:\s+99999718 sats to bcrt1qdest$/m)
  assert.match(r.stdout, /^Change:\s+none/m)
})

test('send payment flags that do not fit together are usage errors (exit 2), nothing sent', async () => {
  for (const [args, why] of [
    [['--to', 'bcrt1qa'], /has no amount/],
    [['--to', 'bcrt1qa', '--to', 'bcrt1qb:5', '--amount', '5'], /--amount goes with exactly one --to/],
    [['--to', 'bcrt1qa:0'], /at least 1 satoshi/],
    [['--to', ':500'], /the address is missing/],
    [[], /no payment given/],
    [['--to', 'bcrt1qa', '--amount', '5', '--memo', ' '], /--memo must be 1-500 characters/],
    [['--to', 'bcrt1qa', '--amount', '5', '--external-id', 'has space'], /--external-id must be 1-200 printable/],
  ] as [string[], RegExp][]) {
    const r = await runCommand(Send, [...noTo(), ...args, '--json'])
    assert.equal(r.exitCode, 2, args.join(' '))
    assert.match((JSON.parse(r.stdout) as ErrorJson).error.message, why)
  }
  assert.equal(node.requests.length, 0)
})

test('coin control: send --input <txid>:<vout> (repeatable) names the coins; a malformed one is a usage error', async () => {
  const coin = 'a1'.repeat(32)
  const r = await runCommand(Send, [...base(), '--amount', '1000', '--input', `${coin.toUpperCase()}:0`, '--input', `${coin}:3`, '--dry-run', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual((node.calls('POST', '/api/v1/transactions/quote')[0]?.body as { inputs?: unknown }).inputs, [
    { txid: coin, vout: 0 },
    { txid: coin, vout: 3 },
  ])
  const bad = await runCommand(Send, [...base(), '--amount', '1000', '--input', 'abc:0', '--json'])
  assert.equal(bad.exitCode, 2)
  assert.equal((JSON.parse(bad.stdout) as ErrorJson).error.code, 'INVALID_INPUT')
})

test('utxo consolidate (send --consolidate): no payment flags, the coins named or all, printed as what comes back', async () => {
  const r = await runCommand(UtxoConsolidate, ['--node', node.url, '--type', 'taproot', '--fee-rate', '1', ...FAST])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions')[0]?.body, { consolidate: true, type: 'taproot', feeRate: 1 })
  assert.match(r.stderr, /Sending a consolidation of every spendable coin/)
  assert.match(r.stdout, /^Consolidated:\s+\d+ sats back to bcrt1qchange/m)
  const mixed = await runCommand(Send, [...base(), '--consolidate', '--json'])
  assert.equal(mixed.exitCode, 2, '--consolidate pays no one: not with --to')
  const withTo = await runCommand(UtxoConsolidate, ['--node', node.url, '--to', 'bcrt1qa', '--json'])
  assert.equal(withTo.exitCode, 2, 'utxo consolidate has no --to')
})
