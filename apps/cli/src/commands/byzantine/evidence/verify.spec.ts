import assert from 'node:assert/strict'
import { sign as signWithKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { attemptBody, canonicalJson, decisionBody, type SignedVoteEvidence, type SigningAttemptEvidence, type TxDecisionEvidence, type ViolationDto } from '@tw/api'
import type { EvidenceReport } from '../../../shared/evidence'
import { runCommand } from '../../../testing/run-command'
import ByzantineEvidenceVerify from './verify'

const native = require('@tw/native') as typeof import('@tw/native')

// A real cluster CA and five node certificates; statements signed with the node keys exactly
// as NodeIdentityService.sign does (sha256 over canonicalJson(payload), base64).
const tmp = mkdtempSync(join(tmpdir(), 'tw-cli-evidence-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const certs = join(tmp, 'certs')
native.generateClusterCerts(certs, 5)
const keyOf = (id: number) => readFileSync(join(certs, `node-${id}.key`), 'utf8')
const sign = (id: number, payload: unknown) => signWithKey('sha256', Buffer.from(canonicalJson(payload)), keyOf(id)).toString('base64')

const TX = 'tx-0001'
const HASH_A = 'a'.repeat(64)
const HASH_B = 'b'.repeat(64)

function vote(nodeId: number, proposalHash: string, signer = nodeId, approve = true): SignedVoteEvidence {
  const payload = { txId: TX, proposalHash, nodeId, approve, reason: approve ? null : 'policy', votedAt: `2026-01-01T00:00:0${nodeId}.000Z` }
  return { payload, signature: sign(signer, payload) }
}

function attempt(leader: number, approvers: number[], signers: number[]): SigningAttemptEvidence {
  const body: SigningAttemptEvidence = {
    txId: TX,
    attempt: 2,
    signers,
    mode: 'full',
    presignatures: [null],
    createdAt: '2026-01-01T00:01:00.000Z',
    term: 'lease-1',
    proposalHash: HASH_A,
    leader,
    approvals: approvers.map((n) => vote(n, HASH_A)),
  }
  return { ...body, signature: sign(leader, attemptBody(body)) }
}

function violation(type: ViolationDto['type'], offender: number, evidence: Record<string, unknown>, accusers = [1, 2, 4]): ViolationDto {
  return {
    id: `${type.slice(0, 4)}0000000000000000000000000000`.slice(0, 32),
    type,
    offender,
    sessionId: TX,
    status: 'proven',
    accusers,
    evidence,
    reportedAt: '2026-01-01T00:02:00.000Z',
    provenAt: '2026-01-01T00:02:01.000Z',
  }
}

let n = 0
function file(v: unknown): string {
  const p = join(tmp, `violation-${++n}.json`)
  writeFileSync(p, JSON.stringify(v, null, 2))
  return p
}

type ErrorOut = { error: { code: string; message: string; details: EvidenceReport } }

async function verifyJson(v: unknown, extra: string[] = []): Promise<{ exitCode: number; report: EvidenceReport; code: string | null; stdout: string }> {
  const r = await runCommand<EvidenceReport>(ByzantineEvidenceVerify, [file(v), '--certs', certs, '--json', ...extra])
  const out = JSON.parse(r.stdout) as EvidenceReport | ErrorOut
  if ('error' in out) return { exitCode: r.exitCode, report: out.error.details, code: out.error.code, stdout: r.stdout }
  return { exitCode: r.exitCode, report: out, code: null, stdout: r.stdout }
}

test('a genuine double vote (two votes signed by the offender, same transaction, different proposal) is proven', async () => {
  const v = violation('double_vote', 3, { txId: TX, first: vote(3, HASH_A), second: vote(3, HASH_B) })
  const r = await verifyJson(v)
  assert.equal(r.exitCode, 0, r.stdout)
  assert.equal(r.report.verdict, 'proven')
  assert.equal(r.report.violationId, v.id)
  assert.equal(r.report.offender, 3)
  assert.deepEqual(
    r.report.checks.map((c) => c.result),
    ['pass', 'pass', 'pass', 'pass'],
  )
  // The table: check | result, and the exit line.
  const t = await runCommand(ByzantineEvidenceVerify, [file(v), '--certs', certs])
  assert.equal(t.exitCode, 0, t.stderr)
  assert.match(t.stdout, /^CHECK\s+RESULT$/m)
  assert.match(t.stdout, /^first vote signed by node 3\s+pass$/m)
  assert.match(t.stdout, /^same transaction, different content\s+pass \(tx-0001: approve aaaaaaaaaaaa… vs approve bbbbbbbbbbbb…\)$/m)
  assert.match(t.stdout, /signed accusations are checked online only/)
  assert.match(t.stdout, /^Proven: the evidence shows node 3 committed double_vote\.$/m)
})

test('a double vote with one signature tampered is not proven (exit 1, EVIDENCE_NOT_PROVEN)', async () => {
  const second = vote(3, HASH_B)
  const tampered = { ...second, payload: { ...second.payload, proposalHash: 'c'.repeat(64) } }
  const r = await verifyJson(violation('double_vote', 3, { txId: TX, first: vote(3, HASH_A), second: tampered }))
  assert.equal(r.exitCode, 1)
  assert.equal(r.code, 'EVIDENCE_NOT_PROVEN')
  assert.equal(r.report.verdict, 'not-proven')
  const c = r.report.checks.find((x) => x.check === 'second vote signed by node 3')
  assert.equal(c?.result, 'fail')
  assert.match(c?.detail ?? '', /does not verify with node 3's certificate/)
  const h = await runCommand(ByzantineEvidenceVerify, [file(violation('double_vote', 3, { first: vote(3, HASH_A), second: tampered })), '--certs', certs])
  assert.equal(h.exitCode, 1)
  assert.match(h.stderr, /^Error \(EVIDENCE_NOT_PROVEN\): Evidence of violation \S+ not proven \(failed: second vote signed by node 3\)$/m)
})

test("a vote signed with another node's key is not proven, even when both votes conflict", async () => {
  const r = await verifyJson(violation('double_vote', 3, { txId: TX, first: vote(3, HASH_A), second: vote(3, HASH_B, 2) }))
  assert.equal(r.exitCode, 1)
  assert.equal(r.code, 'EVIDENCE_NOT_PROVEN')
  assert.deepEqual(
    r.report.checks.map((c) => [c.check, c.result]),
    [
      ['evidence holds two signed votes', 'pass'],
      ['first vote signed by node 3', 'pass'],
      ['second vote signed by node 3', 'fail'],
      ['same transaction, different content', 'pass'],
    ],
  )
  // Same for a minority-attack approval signed by someone else.
  const m = await verifyJson(violation('minority_attack', 3, { txId: TX, proposalHash: HASH_A, broken: 'amount over the per-send limit', vote: vote(3, HASH_A, 5) }))
  assert.equal(m.exitCode, 1)
  assert.equal(m.report.checks.find((c) => c.check === 'vote signed by node 3')?.result, 'fail')
})

test('an invalid_decision attempt signed by its leader with only 3 approvals is proven', async () => {
  const a = attempt(2, [1, 2, 3], [1, 2, 3, 4])
  const r = await verifyJson(violation('invalid_decision', 2, { txId: TX, attempt: a, fault: 'carries 3 valid signed approvals' }, [1, 3, 4]))
  assert.equal(r.exitCode, 0, r.stdout)
  assert.equal(r.report.verdict, 'proven')
  const fault = r.report.checks.find((c) => c.check === 'attempt is a faulty decision (threshold 4)')
  assert.equal(fault?.result, 'pass')
  assert.match(fault?.detail ?? '', /carries 3 valid signed approvals of its proposal \(needs 4\); valid signed approvals from node\(s\) 1,2,3/)
  assert.equal(r.report.checks.find((c) => c.check === 'attempt signed by node 2')?.result, 'pass')
  // --threshold 3: the same attempt is a valid 3-of-n decision, so not proven.
  const t3 = await verifyJson(violation('invalid_decision', 2, { attempt: attempt(2, [1, 2, 3], [1, 2, 3]) }), ['--threshold', '3'])
  assert.equal(t3.exitCode, 1)
})

test('a valid attempt (4 signed approvals, its signers among them) is not proven; nor is a faulty one not signed by the accused leader', async () => {
  const r = await verifyJson(violation('invalid_decision', 2, { attempt: attempt(2, [1, 2, 3, 5], [1, 2, 3, 5]) }))
  assert.equal(r.exitCode, 1)
  assert.equal(r.code, 'EVIDENCE_NOT_PROVEN')
  const fault = r.report.checks.find((c) => c.check === 'attempt is a faulty decision (threshold 4)')
  assert.equal(fault?.result, 'fail')
  assert.match(fault?.detail ?? '', /it is a valid decision: valid signed approvals from node\(s\) 1,2,3,5/)
  // A faulty attempt whose signature is not the leader's (node 4 signed an attempt naming node 2).
  const body = attempt(2, [1, 2, 3], [1, 2, 3, 4])
  const forged = { ...body, signature: sign(4, attemptBody(body)) }
  const f = await verifyJson(violation('invalid_decision', 2, { attempt: forged }))
  assert.equal(f.exitCode, 1)
  assert.equal(f.report.checks.find((c) => c.check === 'attempt signed by node 2')?.result, 'fail')
  // An approval whose certificate is not given cannot be counted either way: undecidable, not proven.
  const partial = await runCommand<EvidenceReport>(ByzantineEvidenceVerify, [
    file(violation('invalid_decision', 2, { attempt: attempt(2, [1, 2, 3], [1, 2, 3, 4]) })),
    '--ca',
    join(certs, 'ca.crt'),
    '--cert',
    `2=${join(certs, 'node-2.crt')}`,
    '--cert',
    `1=${join(certs, 'node-1.crt')}`,
    '--json',
  ])
  assert.equal(partial.exitCode, 1)
  const p = (JSON.parse(partial.stdout) as ErrorOut).error
  assert.match(p.message, /not decidable offline: attempt is a faulty decision/)
  assert.equal(p.details.checks.find((c) => c.check.startsWith('attempt is a faulty'))?.result, 'unchecked')
})

test('a certificate from another CA is not accepted', async () => {
  const other = join(tmp, 'other')
  native.generateClusterCerts(other, 5)
  const v = violation('double_vote', 3, { first: vote(3, HASH_A), second: vote(3, HASH_B) })
  const r = await runCommand(ByzantineEvidenceVerify, [file(v), '--certs', certs, '--cert', `3=${join(other, 'node-3.crt')}`, '--json'])
  assert.equal(r.exitCode, 1)
  const e = (JSON.parse(r.stdout) as ErrorOut).error
  assert.equal(e.code, 'EVIDENCE_NOT_PROVEN')
  assert.match(e.details.checks[1].detail ?? '', /certificate of node 3 .* not accepted/)
  // …nor a node certificate presented for another node id.
  const w = await runCommand(ByzantineEvidenceVerify, [file(v), '--certs', certs, '--cert', `3=${join(certs, 'node-2.crt')}`, '--json'])
  assert.equal(w.exitCode, 1)
})

test('minority_attack: a validly signed approval, but the policy breach is not re-checked offline', async () => {
  const r = await verifyJson(violation('minority_attack', 3, { txId: TX, proposalHash: HASH_A, broken: 'recipient on the deny list', vote: vote(3, HASH_A) }))
  assert.equal(r.exitCode, 1)
  assert.equal(r.code, 'EVIDENCE_NOT_PROVEN')
  assert.deepEqual(
    r.report.checks.map((c) => c.result),
    ['pass', 'pass', 'pass', 'unchecked'],
  )
  assert.match(r.report.checks[3].detail ?? '', /policy breach not re-checked offline.*reported: recipient on the deny list/)
})

test('invalid_signature / protocol_violation evidence is not transferable', async () => {
  for (const type of ['invalid_signature', 'protocol_violation'] as const) {
    const r = await verifyJson(violation(type, 5, { reason: 'replay' }, [1, 2, 3]))
    assert.equal(r.exitCode, 1)
    assert.equal(r.code, 'EVIDENCE_NOT_TRANSFERABLE')
    assert.equal(r.report.verdict, 'not-transferable')
    assert.match(r.report.checks[0].detail ?? '', /attested by 3 accuser\(s\) \(node 1,2,3\), not provable offline/)
  }
})

test('input: a violations list needs --id; bad files and flags have stable codes', async () => {
  const dv = violation('double_vote', 3, { first: vote(3, HASH_A), second: vote(3, HASH_B) })
  const ps = violation('protocol_violation', 5, {})
  const list = { violations: [{ ...ps, id: 'ffff0000000000000000000000000000' }, dv], bans: [], banThreshold: 2, minAccusers: 3 }
  const amb = await runCommand(ByzantineEvidenceVerify, [file(list), '--certs', certs, '--json'])
  assert.equal((JSON.parse(amb.stdout) as ErrorOut).error.code, 'EVIDENCE_UNREADABLE')
  const picked = await runCommand<EvidenceReport>(ByzantineEvidenceVerify, [file(list), '--certs', certs, '--id', dv.id.slice(0, 6), '--json'])
  assert.equal(picked.exitCode, 0, picked.stdout)
  assert.equal((JSON.parse(picked.stdout) as EvidenceReport).type, 'double_vote')
  const notJson = join(tmp, 'bad.json')
  writeFileSync(notJson, '{nope')
  assert.equal((JSON.parse((await runCommand(ByzantineEvidenceVerify, [notJson, '--certs', certs, '--json'])).stdout) as ErrorOut).error.code, 'EVIDENCE_UNREADABLE')
  const noCa = await runCommand(ByzantineEvidenceVerify, [file(dv), '--cert', `3=${join(certs, 'node-3.crt')}`, '--json'])
  assert.equal((JSON.parse(noCa.stdout) as ErrorOut).error.code, 'CERTS_MISSING')
  const badCert = await runCommand(ByzantineEvidenceVerify, [file(dv), '--certs', certs, '--cert', 'three=x.crt', '--json'])
  assert.equal(badCert.exitCode, 2)
  assert.equal((JSON.parse(badCert.stdout) as ErrorOut).error.code, 'INVALID_FLAGS')
})

test("invalid_signature from a signed false result: the result's signature and proposal are checked, the Bitcoin signatures are not (not proven offline)", async () => {
  const proposal = { id: TX, keyId: 'k1', type: 'taproot', to: 'bcrt1q', amountSats: 1000, unsignedTx: '02000000', inputs: [], outputs: [] }
  const proposalHash = (await import('../../../shared/evidence')).proposalHashOf(proposal)
  const body = { nodeId: 4, ok: true, signatures: ['00'.repeat(64)], reportedAt: '2026-01-01T00:03:00.000Z', txId: TX, attempt: 2, proposalHash }
  const result = { ...body, signature: sign(4, body) }
  const r = await verifyJson(violation('invalid_signature', 4, { txId: TX, attempt: 2, result, proposal }, [2]))
  assert.equal(r.exitCode, 1)
  assert.equal(r.code, 'EVIDENCE_NOT_PROVEN')
  assert.equal(r.report.verdict, 'not-proven')
  assert.deepEqual(
    r.report.checks.map((c) => c.result),
    ['pass', 'pass', 'pass', 'unchecked'],
  )
  // The same result presented with another proposal, or re-signed by another node, fails.
  const other = await verifyJson(violation('invalid_signature', 4, { result, proposal: { ...proposal, amountSats: 2000 } }))
  assert.equal(other.report.checks[2].result, 'fail')
  const forged = await verifyJson(violation('invalid_signature', 4, { result: { ...body, signature: sign(2, body) }, proposal }))
  assert.equal(forged.report.checks[1].result, 'fail')
})

function decision(leader: number, state: string, votes: SignedVoteEvidence[], clusterSize = 5): TxDecisionEvidence {
  const body: TxDecisionEvidence = {
    txId: TX,
    state,
    from: 'voting',
    attempt: 0,
    proposalHash: HASH_A,
    term: '41',
    leader,
    clusterSize,
    error: state === 'rejected' ? { code: 'POLICY_VIOLATION', message: 'rejected' } : null,
    excluded: [],
    votes,
    decidedAt: '2026-01-01T00:01:00.000Z',
  }
  return { ...body, signature: sign(leader, decisionBody(body)) }
}

test('invalid_decision on a transaction record: a signed rejection with one valid rejection is proven; two rejections, or a failed decision, are not', async () => {
  const one = await verifyJson(violation('invalid_decision', 2, { txId: TX, decision: decision(2, 'rejected', [vote(5, HASH_A, 5, false)]) }))
  assert.equal(one.exitCode, 0, one.stdout)
  assert.equal(one.report.verdict, 'proven')
  assert.equal(one.report.checks.find((c) => c.check === 'decision signed by node 2')?.result, 'pass')
  const fault = one.report.checks.find((c) => c.check === 'decision is a faulty rejected (threshold 4 of 5)')
  assert.equal(fault?.result, 'pass')
  assert.match(fault?.detail ?? '', /rejects with 1 valid signed rejections of its proposal \(needs 2: approval was still possible\); valid signed rejections from node\(s\) 5/)
  // Counted against a smaller cluster: still proven against the real one.
  const small = await verifyJson(violation('invalid_decision', 2, { decision: decision(2, 'rejected', [vote(5, HASH_A, 5, false)], 4) }))
  assert.equal(small.report.verdict, 'proven')
  // Two valid rejections: a valid decision, not proven.
  const two = await verifyJson(violation('invalid_decision', 2, { decision: decision(2, 'rejected', [vote(4, HASH_A, 4, false), vote(5, HASH_A, 5, false)]) }))
  assert.equal(two.exitCode, 1)
  assert.equal(two.code, 'EVIDENCE_NOT_PROVEN')
  // An approval on three approvals is proven; a rejection one of whose votes is signed by another node is not counted.
  const three = await verifyJson(
    violation('invalid_decision', 3, {
      decision: decision(
        3,
        'approved',
        [1, 2, 3].map((n) => vote(n, HASH_A)),
      ),
    }),
  )
  assert.equal(three.report.verdict, 'proven')
  const forgedVote = await verifyJson(violation('invalid_decision', 2, { decision: decision(2, 'rejected', [vote(4, HASH_A, 2, false), vote(5, HASH_A, 5, false)]) }))
  assert.equal(forgedVote.report.verdict, 'proven')
  // A failed decision rests on the chain: not decidable offline.
  const failed = await verifyJson(violation('invalid_decision', 2, { decision: decision(2, 'failed', []) }))
  assert.equal(failed.report.verdict, 'not-proven')
  assert.equal(failed.report.checks.at(-1)?.result, 'unchecked')
  // Signed by another node than the leader it names: not proven.
  const d = decision(2, 'rejected', [vote(5, HASH_A, 5, false)])
  const resigned = await verifyJson(violation('invalid_decision', 2, { decision: { ...d, signature: sign(3, decisionBody(d)) } }))
  assert.equal(resigned.report.checks.find((c) => c.check === 'decision signed by node 2')?.result, 'fail')
  // --cluster-size 6 --threshold 4: two rejections are no longer enough (needs 3).
  const six = await verifyJson(violation('invalid_decision', 2, { decision: decision(2, 'rejected', [vote(4, HASH_A, 4, false), vote(5, HASH_A, 5, false)], 6) }), [
    '--cluster-size',
    '6',
  ])
  assert.equal(six.report.verdict, 'proven')
})
