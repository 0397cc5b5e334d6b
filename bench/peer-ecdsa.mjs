// Threshold-ECDSA peer on the same machine: Silence Laboratories' DKLs23 (OT-based threshold ECDSA,
// secp256k1), the WebAssembly build for Node (@silencelaboratories/dkls-wasm-ll-node). All parties in
// this one process and thread, like the bare engine benchmark and bench/peer.mjs: keygen with five
// parties and threshold four, then signing with four of them, the message-independent presignature
// (the first three rounds) timed apart from the message-dependent last round.
//
// Every signature is checked against the group key with @noble/curves' ECDSA; one that does not
// verify stops the run (a figure for signatures nobody checked would prove nothing).
//
//   node bench/peer-ecdsa.mjs [--quick]      (prints JSON)
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { now, opRow } from './lib.mjs'

const N = 5
const T = 4
const PKG = '@silencelaboratories/dkls-wasm-ll-node'

/** The npm package is under Silence Laboratories' non-commercial licence: the repository does not depend on it. */
export const ECDSA_PEER_INSTALL = `npm install --no-save ${PKG}@1.1.2`

export async function runEcdsaPeer({ quick }) {
  // Opt-in: whoever runs the benchmark installs the package themselves (ECDSA_PEER_INSTALL),
  // having accepted its licence. The package has no exports map, but read package.json next to
  // the resolved entry point as bench/peer.mjs does.
  let entry
  try {
    entry = fileURLToPath(import.meta.resolve(PKG))
  } catch {
    throw Object.assign(new Error(`${PKG} is not installed (non-commercial licence, so not a dependency of this repository): \`${ECDSA_PEER_INSTALL}\` to compare with it`), {
      code: 'PEER_NOT_INSTALLED',
    })
  }
  const pkg = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8'))
  // CommonJS that loads its .wasm synchronously with fs: nothing to initialise.
  const mod = await import(PKG)
  const { KeygenSession, Keyshare, SignSession } = mod.default ?? mod
  const { secp256k1 } = await import('@noble/curves/secp256k1.js')

  // Message routing as in the package's README: a broadcast goes to everyone but its sender, a
  // point-to-point message to its `to_id`. handleMessages() consumes what it is given, so each
  // recipient gets clones and the originals are freed afterwards (the WASM heap is not collected
  // promptly otherwise).
  const others = (msgs, id) => msgs.filter((m) => m.from_id !== id).map((m) => m.clone())
  const addressed = (msgs, id) => msgs.filter((m) => m.to_id === id).map((m) => m.clone())
  const free = (...batches) => batches.forEach((b) => b.forEach((m) => m.free()))

  const keygen = () => {
    const parties = Array.from({ length: N }, (_, i) => new KeygenSession(N, T, i))
    const m1 = parties.map((p) => p.createFirstMessage())
    const m2 = parties.flatMap((p, i) => p.handleMessages(others(m1, i)))
    const commitments = parties.map((p) => p.calculateChainCodeCommitment())
    const m3 = parties.flatMap((p, i) => p.handleMessages(addressed(m2, i)))
    const m4 = parties.flatMap((p, i) => p.handleMessages(addressed(m3, i), commitments))
    parties.forEach((p, i) => p.handleMessages(others(m4, i)))
    free(m1, m2, m3, m4)
    return parties.map((p) => p.keyshare())
  }

  // Signing consumes the key share it is given, so each signing starts from copies made before
  // the clock starts (in a node the share would be loaded from its keystore). The chain path "m"
  // signs with the root key, the one keygen reported. The sign session numbers its parties by
  // their key shares' ids; the first four shares are 0..3, like bench/peer.mjs's first four.
  const presign = (shares) => {
    const parties = shares.map((s) => new SignSession(s, 'm'))
    const m1 = parties.map((p) => p.createFirstMessage())
    const ids = m1.map((m) => m.from_id)
    const m2 = parties.flatMap((p, i) => p.handleMessages(others(m1, ids[i])))
    const m3 = parties.flatMap((p, i) => p.handleMessages(addressed(m2, ids[i])))
    parties.forEach((p, i) => p.handleMessages(addressed(m3, ids[i])))
    free(m1, m2, m3)
    return { parties, ids }
  }
  // The last round: each party's broadcast for this hash, then every party combines into [R, S].
  // A presignature must never be used twice (it would give the key away): each one signs once.
  const finish = ({ parties, ids }, hash) => {
    const m4 = parties.map((p) => p.lastMessage(hash))
    const sigs = parties.map((p, i) => p.combine(others(m4, ids[i])))
    free(m4)
    return sigs
  }

  // Not timed: every party's output must be the same signature, valid for the hash under the
  // group key. Verified as plain ECDSA over the given hash (no prehash) and high S allowed, since
  // that is what the library promises; whether S came out low (what Bitcoin relays) is reported.
  let verified = 0
  let highS = 0
  const check = (groupKey, hash, sigs) => {
    for (const [r, s] of sigs) {
      const sig = new Uint8Array(64)
      sig.set(r, 0)
      sig.set(s, 32)
      if (!secp256k1.verify(sig, hash, groupKey, { prehash: false, lowS: false })) {
        throw new Error(`${PKG}: signature ${Buffer.from(sig).toString('hex')} does not verify under ${Buffer.from(groupKey).toString('hex')}`)
      }
      if (secp256k1.Signature.fromBytes(sig, 'compact').hasHighS()) highS++
      verified++
    }
  }

  // Keygen costs seconds (base OTs between every pair of parties), so it is sampled sparingly:
  // quick mode times the one keygen it needs; full mode times a few more within a time budget.
  // There is no untimed warm-up keygen for the same reason (the later samples show the warm figure).
  const keygenSamples = []
  const keygenMax = quick ? 1 : 4
  const keygenBudgetMs = quick ? 0 : 30_000
  let shares
  const keygenStart = now()
  do {
    const t = now()
    shares = keygen()
    keygenSamples.push(now() - t)
  } while (keygenSamples.length < keygenMax && now() - keygenStart < keygenBudgetMs)
  const groupKey = shares[0].publicKey
  if (!shares.every((s) => Buffer.from(s.publicKey).equals(Buffer.from(groupKey)) && s.threshold === T && s.participants === N)) {
    throw new Error(`${PKG}: the five key shares disagree on the group key or the 4-of-5 parameters`)
  }
  const shareBytes = shares.slice(0, T).map((s) => s.toBytes())

  const signOnce = () => {
    const copies = shareBytes.map((b) => Keyshare.fromBytes(b))
    const hash = new Uint8Array(randomBytes(32))
    const t0 = now()
    const pre = presign(copies)
    const t1 = now()
    const sigs = finish(pre, hash)
    const t2 = now()
    check(groupKey, hash, sigs)
    return [t1 - t0, t2 - t1, t2 - t0]
  }
  // Warm up (JIT and WASM tier-up) with one untimed signing, then sample within a budget.
  signOnce()
  const presigSamples = []
  const signSamples = []
  const fullSamples = []
  const signMax = quick ? 5 : 40
  const signBudgetMs = quick ? 6_000 : 25_000
  const signStart = now()
  do {
    const [p, s, f] = signOnce()
    presigSamples.push(p)
    signSamples.push(s)
    fullSamples.push(f)
  } while (signSamples.length < signMax && (signSamples.length < 3 || now() - signStart < signBudgetMs))

  return {
    library: pkg.name,
    version: pkg.version,
    licence: pkg.license,
    // "SLL" says little on its own: the title of the licence file shipped in the package.
    licence_title: licenceTitle(dirname(entry)),
    api: 'DKLs23 threshold ECDSA (secp256k1, WASM); KeygenSession (createFirstMessage, handleMessages, calculateChainCodeCommitment, keyshare), SignSession (createFirstMessage, handleMessages ×3 → presignature; lastMessage, combine → signature)',
    method:
      'all parties in one process and one thread (like the bare engine benchmark); keygen 5 parties threshold 4, signing with parties 0-3; presignature = new SignSession … third handleMessages, sign with presignature = lastMessage + combine of all four, full sign = both in one run; every signature verified with @noble/curves secp256k1 (not timed); one untimed signing first, no warm-up keygen',
    signature_valid: verified > 0,
    signatures_verified: verified,
    signatures_high_s: highS,
    operations: [
      opRow('ecdsa keygen', N, keygenSamples),
      opRow('ecdsa presignature', T, presigSamples),
      opRow('ecdsa sign with presignature', T, signSamples),
      opRow('ecdsa full sign', T, fullSamples),
    ],
  }
}

function licenceTitle(dir) {
  try {
    return (
      readFileSync(join(dir, 'LICENSE.md'), 'utf8')
        .split('\n')
        .find((l) => l.trim())
        ?.trim() ?? null
    )
  } catch {
    return null
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const res = await runEcdsaPeer({ quick: process.argv.includes('--quick') })
  process.stdout.write(JSON.stringify(res, null, 2) + '\n')
}
