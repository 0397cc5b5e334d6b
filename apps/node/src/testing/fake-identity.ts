import { createHash } from 'node:crypto'
import { canonicalJson } from '../common/canonical-json'

// Node identities for specs that run one node's services without keys on disk: a statement
// "signed" by node n is a keyed hash every fake identity recomputes (never a real key), so a
// spec can forge another node's statement only by calling signAs with that node's id.

export const signAs = (nodeId: number, payload: unknown): string =>
  createHash('sha256')
    .update(`node-${nodeId}|${canonicalJson(payload)}`)
    .digest('base64')

/** The subset of NodeIdentityService the wallet services call, as node `me`. */
export const fakeIdentity = (me: number) => ({
  sign: (payload: unknown) => signAs(me, payload),
  verify: async (nodeId: number, payload: unknown, signature: string) => signAs(nodeId, payload) === signature,
  start: async () => undefined,
})
