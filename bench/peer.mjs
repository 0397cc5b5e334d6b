// Peer implementation on the same machine: @noble/curves' FROST (RFC 9591, secp256k1 with the
// BIP340/Taproot flavour `schnorr_FROST`), pure JavaScript, all parties in this one process and
// thread, like the bare engine benchmark. 4-of-5: DKG with five parties, signing with four.
//
//   node bench/peer.mjs [--quick]      (prints JSON)
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { now, opRow } from './lib.mjs'

const N = 5
const T = 4

export async function runPeer({ quick }) {
  // The package's exports do not include package.json: read it next to the resolved entry point.
  const entry = fileURLToPath(import.meta.resolve('@noble/curves/secp256k1.js'))
  const pkg = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8'))
  const { schnorr_FROST: F, schnorr } = await import('@noble/curves/secp256k1.js')
  const ids = Array.from({ length: N }, (_, i) => F.Identifier.fromNumber(i + 1))
  const signers = { min: T, max: N }

  const dkg = () => {
    const r1 = ids.map((id) => F.DKG.round1(id, signers))
    const pubs1 = r1.map((r) => r.public)
    const r2 = r1.map((r, i) =>
      F.DKG.round2(
        r.secret,
        pubs1.filter((_, j) => j !== i),
      ),
    )
    return r1.map((r, i) => {
      const others1 = pubs1.filter((_, j) => j !== i)
      const incoming = r2.filter((_, j) => j !== i).map((m) => m[ids[i]])
      return F.DKG.round3(r.secret, others1, incoming)
    })
  }
  const msg = new Uint8Array(32).fill(9)
  const sign = (keys) => {
    const set = keys.slice(0, T)
    const nonces = set.map((k) => F.commit(k.secret))
    const commitments = nonces.map((n) => n.commitments)
    const shares = {}
    set.forEach((k, i) => {
      shares[k.secret.identifier] = F.signShare(k.secret, k.public, nonces[i].nonces, commitments, msg)
    })
    const sig = F.aggregate(set[0].public, commitments, msg, shares)
    return sig
  }

  // Warm up (JIT) before timing.
  let keys = dkg()
  sign(keys)
  const dkgSamples = []
  for (let i = 0; i < (quick ? 5 : 20); i++) {
    const t = now()
    keys = dkg()
    dkgSamples.push(now() - t)
  }
  const signSamples = []
  let sig
  for (let i = 0; i < (quick ? 20 : 200); i++) {
    const t = now()
    sig = sign(keys)
    signSamples.push(now() - t)
  }
  // The aggregate is a valid BIP340 signature under the group's x-only key (a sanity check, not timed).
  const groupKey = keys[0].public.commitments[0]
  const valid = F.verify(sig, msg, groupKey) && (groupKey.length === 33 ? schnorr.verify(sig, msg, groupKey.subarray(1)) : true)
  return {
    library: '@noble/curves',
    version: pkg.version,
    licence: pkg.license,
    api: 'schnorr_FROST (RFC 9591, secp256k1 + BIP340/Taproot flavour); DKG.round1-3, commit, signShare, aggregate',
    method: 'all parties in one process and one thread (like the bare engine benchmark); 4-of-5; JIT warmed up by one DKG and one signing first',
    signature_valid: valid,
    operations: [opRow('frost dkg', N, dkgSamples), opRow('frost sign', T, signSamples)],
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const res = await runPeer({ quick: process.argv.includes('--quick') })
  process.stdout.write(JSON.stringify(res, null, 2) + '\n')
}
