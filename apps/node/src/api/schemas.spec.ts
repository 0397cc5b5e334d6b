import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sendSchema } from './schemas'

// The shape of a send body, as the API checks it before the wallet sees it (amounts and
// addresses are the wallet's to judge, with their own codes).
describe('sendSchema', () => {
  const errors = (body: unknown) => {
    const r = sendSchema.safeParse(body)
    return r.success ? [] : r.error.issues.map((i) => i.message)
  }

  it('takes one payment, a batch, "max", the fee out of the amount, a memo and an external id', () => {
    for (const body of [
      { to: 'bcrt1qa', amountSats: 1000 },
      { to: 'bcrt1qa', amountSats: 'max', type: 'taproot' },
      { recipients: [{ to: 'bcrt1qa', amountSats: 1000 }], subtractFeeFromAmount: true },
      {
        recipients: [
          { to: 'bcrt1qa', amountSats: 1000 },
          { to: 'bcrt1qb', amountSats: 2000 },
        ],
        memo: 'March payroll',
        externalId: 'payroll-2026-03',
      },
    ]) {
      assert.deepEqual(errors(body), [], JSON.stringify(body))
    }
  })

  it('refuses payments given both ways or not at all, an empty or oversized batch, a bad memo or external id', () => {
    const cases: [unknown, RegExp][] = [
      [{ to: 'bcrt1qa', amountSats: 1, recipients: [{ to: 'bcrt1qb', amountSats: 1 }] }, /either to and amountSats .* or recipients/],
      [{ amountSats: 1, recipients: [{ to: 'bcrt1qb', amountSats: 1 }] }, /either to and amountSats/],
      [{ to: 'bcrt1qa' }, /to and amountSats are required/],
      [{}, /to and amountSats are required/],
      [{ recipients: [] }, /recipients must be an array of 1\.\.200/],
      [{ recipients: Array.from({ length: 201 }, (_, i) => ({ to: `bcrt1q${i}`, amountSats: 1 })) }, /recipients must be an array of 1\.\.200/],
      [{ recipients: [{ to: 'bcrt1qa' }] }, /recipients\[\]\.amountSats is required/],
      [{ recipients: [{ to: 'bcrt1qa', amountSats: 1, memo: 'x' }] }, /./],
      [{ to: 'bcrt1qa', amountSats: 'max', subtractFeeFromAmount: false }, /"max" always takes the fee out/],
      [{ to: 'bcrt1qa', amountSats: 1, memo: '' }, /memo must be 1-500 characters/],
      [{ to: 'bcrt1qa', amountSats: 1, memo: 'x'.repeat(501) }, /memo must be 1-500 characters/],
      [{ to: 'bcrt1qa', amountSats: 1, externalId: 'has space' }, /externalId must be 1-200 printable/],
      [{ to: 'bcrt1qa', amountSats: 1, subtractFeeFromAmount: 'yes' }, /subtractFeeFromAmount must be true or false/],
      [{ consolidate: true, to: 'bcrt1qa', amountSats: 1 }, /a consolidation pays nothing out/],
      [{ consolidate: false }, /consolidate must be true/],
      [{ to: 'bcrt1qa', amountSats: 1, inputs: [] }, /inputs must be an array of 1\.\.1000/],
      [{ to: 'bcrt1qa', amountSats: 1, inputs: [{ txid: 'xyz', vout: 0 }] }, /inputs\[\]\.txid must be 64 hex digits/],
      [{ to: 'bcrt1qa', amountSats: 1, inputs: [{ txid: 'a1'.repeat(32), vout: -1 }] }, /inputs\[\]\.vout must be an integer >= 0/],
    ]
    for (const [body, why] of cases) {
      const got = errors(body)
      assert.ok(
        got.some((m) => why.test(m)),
        `${JSON.stringify(body).slice(0, 80)}: ${got.join('; ')}`,
      )
    }
  })
})
