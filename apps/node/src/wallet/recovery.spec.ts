import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyAgreement, keyCreatedAt, lastUsedIndex, recoveredKeyRecord, resolveLost, type LostTxFacts, type ShareClaim } from './recovery'

const claim = (nodeId: number, over: Partial<ShareClaim> = {}): ShareClaim => ({
  keyId: 'schnorr-mabc123-0011223344',
  protocol: 'schnorr',
  publicKey: '02'.padEnd(66, 'a'),
  chainCode: 'c'.repeat(64),
  outputKey: 'd'.repeat(64),
  nodeId,
  signature: 'sig',
  ...over,
})

describe('recovery: which keys every node agrees on', () => {
  it('a key all five claim alike is agreed', () => {
    const [a] = keyAgreement(
      [5, 3, 1, 2, 4].map((n) => claim(n)),
      [1, 2, 3, 4, 5],
    )
    assert.equal(a.problem, null)
    assert.deepEqual(a.claimedBy, [1, 2, 3, 4, 5])
    assert.equal(a.agreed?.publicKey, claim(1).publicKey)
  })

  it('a key one node does not claim is refused, naming it', () => {
    const [a] = keyAgreement(
      [1, 2, 3, 4].map((n) => claim(n)),
      [1, 2, 3, 4, 5],
    )
    assert.equal(a.agreed, null)
    assert.match(a.problem ?? '', /node\(s\) 5 hold no share/)
  })

  it('a node claiming other public facts (another chain code: other addresses) is refused, naming it', () => {
    const [a] = keyAgreement([...[1, 2, 3, 4].map((n) => claim(n)), claim(5, { chainCode: 'e'.repeat(64) })], [1, 2, 3, 4, 5])
    assert.equal(a.agreed, null)
    assert.match(a.problem ?? '', /node\(s\) 5 hold a share with other public facts/)
  })

  it('keys are told apart by id', () => {
    const other = (n: number) => claim(n, { keyId: 'ecdsa-mabc999-ff', protocol: 'ecdsa', outputKey: null })
    const out = keyAgreement([...[1, 2, 3, 4, 5].map((n) => claim(n)), ...[1, 2].map(other)], [1, 2, 3, 4, 5])
    assert.deepEqual(
      out.map((a) => [a.keyId, a.problem === null]),
      [
        ['ecdsa-mabc999-ff', false],
        ['schnorr-mabc123-0011223344', true],
      ],
    )
  })

  it('the re-registered record is active since the key was made (its job id holds the time)', () => {
    const made = Date.UTC(2026, 5, 1, 12, 0, 0)
    const keyId = `schnorr-${made.toString(36)}-0011223344`
    assert.equal(keyCreatedAt(keyId, 'schnorr', 'x'), new Date(made).toISOString())
    assert.equal(keyCreatedAt('schnorr-zzzzzzzz-00', 'schnorr', 'fallback'), 'fallback')
    const r = recoveredKeyRecord(claim(1, { keyId }), [1, 2, 3, 4, 5], '2026-12-07T00:00:00.000Z')
    assert.deepEqual(
      { status: r.status, jobId: r.jobId, activatedAt: r.activatedAt, outputKey: r.outputKey, reportedBy: r.reportedBy },
      { status: 'active', jobId: keyId.slice('schnorr-'.length), activatedAt: new Date(made).toISOString(), outputKey: 'd'.repeat(64), reportedBy: [1, 2, 3, 4, 5] },
    )
  })
})

describe('recovery: address indexes', () => {
  const scan = (used: Set<number>) => {
    const asked: number[] = []
    return { asked, used: async (xs: number[]) => (asked.push(...xs), xs.map((i) => used.has(i))) }
  }

  it('finds the last used address across gaps shorter than the gap limit', async () => {
    const s = scan(new Set([0, 1, 7, 25, 44]))
    assert.equal(await lastUsedIndex(s.used, 20), 44)
    // It looked at least a full gap past the last used one.
    assert.ok(Math.max(...s.asked) >= 64)
  })

  it('stops at a gap of gap-limit unused addresses (BIP44)', async () => {
    assert.equal(await lastUsedIndex(scan(new Set([3, 50])).used, 20), 3)
    assert.equal(await lastUsedIndex(scan(new Set()).used, 20), null)
  })
})

describe('recovery: a send whose record etcd lost', () => {
  const tx = { id: 't1', txid: null, state: 'voting' as const }
  const facts = (f: Partial<LostTxFacts>): LostTxFacts => ({ status: 'unknown', signedCopy: false, rebroadcastRefused: null, inputSpentElsewhere: false, ...f })
  const txid = 'b'.repeat(64)
  const end = (state: typeof tx.state | 'signed' | 'broadcast', f: Partial<LostTxFacts>) => {
    const r = resolveLost({ ...tx, state }, txid, facts(f))
    return [r.to, r.code]
  }

  it('on the chain: confirmed, or broadcast while in the mempool', () => {
    assert.deepEqual(end('broadcast', { status: 'confirmed' }), ['confirmed', null])
    assert.deepEqual(end('signed', { status: 'mempool' }), ['broadcast', null])
    assert.deepEqual(end('broadcast', { status: 'mempool' }), ['broadcast', null])
  })

  it('a signed copy the chain takes again: broadcast; one it refuses stays as it was (it may still confirm)', () => {
    assert.deepEqual(end('signed', { signedCopy: true }), ['broadcast', null])
    assert.deepEqual(end('signed', { signedCopy: true, rebroadcastRefused: 'min relay fee not met' }), ['signed', null])
  })

  it('an input spent by another transaction: failed INPUTS_SPENT_ELSEWHERE, signed or not', () => {
    assert.deepEqual(end('voting', { inputSpentElsewhere: true }), ['failed', 'INPUTS_SPENT_ELSEWHERE'])
    assert.deepEqual(end('signed', { signedCopy: true, inputSpentElsewhere: true, rebroadcastRefused: 'bad-txns-inputs-missingorspent' }), ['failed', 'INPUTS_SPENT_ELSEWHERE'])
  })

  it('never signed, never on the chain, coins unspent: failed RECORD_LOST (nothing paid)', () => {
    for (const state of ['pending', 'voting', 'approved', 'signing'] as const) {
      const r = resolveLost({ ...tx, state }, txid, facts({}))
      assert.deepEqual([r.to, r.code], ['failed', 'RECORD_LOST'], state)
      assert.match(r.message, /nothing was paid/)
    }
  })
})
