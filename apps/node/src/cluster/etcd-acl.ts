import { readFileSync } from 'node:fs'
import { Etcd3, Range } from 'etcd3'

/**
 * etcd access control: who may write what under `/tw/`.
 *
 * Every node is an etcd user `node-<id>` (the Common Name of its etcd client certificate;
 * etcd runs with `--client-cert-auth`, so the certificate *is* the login, no password) with
 * one role `node-<id>` built from {@link ETCD_ACL}. The operator's `root` user (certificate
 * `etcd-root.crt`) applies it with {@link applyEtcdAcl} and is the only one that can change it.
 *
 * A node may:
 * - read everything under `/tw/`;
 * - write its own partition `/tw/n/<id>/` and its own registration keys;
 * - write the shared coordination prefixes that any node (or the leader of the moment,
 *   fenced by `/tw/leader`) legitimately writes today.
 *
 * Votes, signing and presignature results, accusations, DKG and aux info results live in the
 * node's own partition `/tw/n/<id>/` (wallet.types `WalletKeys`, byzantine.types
 * `ByzantineKeys`, etcd.repository `EtcdKeys`). Nothing outside `/tw/` is writable.
 */
export interface AclEntry {
  /** `own`: `<id>` is replaced by the node's own id; `shared`: the same for every node. */
  scope: 'own' | 'shared'
  /** `prefix`: the path and everything under it; `key`: exactly that key. */
  match: 'prefix' | 'key'
  path: string
  access: 'read' | 'write'
  why: string
}

/** The one table. `<id>` stands for the node's own id. */
export const ETCD_ACL: readonly AclEntry[] = [
  // ---- read
  { scope: 'shared', match: 'prefix', path: '/tw/', access: 'read', why: 'every node watches and reads the whole cluster state (and compares keys inside transactions)' },
  // ---- the node's own keys
  {
    scope: 'own',
    match: 'prefix',
    path: '/tw/n/<id>/',
    access: 'write',
    why: "the node's partition: its votes, signing and presignature results, accusations, DKG and aux info results",
  },
  { scope: 'own', match: 'key', path: '/tw/nodes/<id>', access: 'write', why: 'membership registration (under the session lease)' },
  { scope: 'own', match: 'key', path: '/tw/certs/<id>', access: 'write', why: 'its published QUIC certificate (identity of what it signs)' },
  { scope: 'own', match: 'key', path: '/tw/primes/<id>', access: 'write', why: 'safe primes ready for aux info (under the session lease)' },
  { scope: 'own', match: 'key', path: '/tw/drill/<id>', access: 'write', why: 'its Byzantine drill behaviours (drill mode only)' },
  // ---- shared coordination
  { scope: 'shared', match: 'key', path: '/tw/leader', access: 'write', why: "election: any node campaigns, resigns, or ends a banned leader's term (create-revision guarded)" },
  { scope: 'shared', match: 'prefix', path: '/tw/dkg-requests/', access: 'write', why: 'any node turns POST /keys into a DKG request for the leader' },
  { scope: 'shared', match: 'prefix', path: '/tw/dkg/', access: 'write', why: "the leader writes DKG jobs (fenced); results are in each node's partition" },
  { scope: 'shared', match: 'prefix', path: '/tw/keys/', access: 'write', why: 'key status, written by the leader (fenced)' },
  {
    scope: 'shared',
    match: 'prefix',
    path: '/tw/refresh/',
    access: 'write',
    why: "any node files a key's share refresh job (signed by its identity key); results and commits are signed, in each node's partition",
  },
  {
    scope: 'shared',
    match: 'key',
    path: '/tw/aux/current',
    access: 'write',
    why: "the leader writes the aux info generation in force (fenced); results are in each node's partition",
  },
  { scope: 'shared', match: 'prefix', path: '/tw/tx/', access: 'write', why: 'the proposing node creates a transaction, the leader advances it (fenced)' },
  { scope: 'shared', match: 'prefix', path: '/tw/tx-active/', access: 'write', why: 'index of unfinished transactions: the proposer adds, the leader removes' },
  { scope: 'shared', match: 'prefix', path: '/tw/tx-sign/', access: 'write', why: 'signing attempts, written by the leader (fenced, signed by its identity key)' },
  { scope: 'shared', match: 'prefix', path: '/tw/utxo-locks/', access: 'write', why: 'the proposing node reserves the coins it spends' },
  { scope: 'shared', match: 'prefix', path: '/tw/idempotency/', access: 'write', why: 'any node records the idempotency key of a send request' },
  { scope: 'shared', match: 'prefix', path: '/tw/wallet/index/', access: 'write', why: 'any node hands out the next receive/change address index' },
  {
    scope: 'shared',
    match: 'prefix',
    path: '/tw/address-labels/',
    access: 'write',
    why: "any node keeps the operator's label of an address it hands out (a label moves no money: addresses come from each node's own share)",
  },
  { scope: 'shared', match: 'prefix', path: '/tw/presig/', access: 'write', why: 'any node requests a presignature; the leader advances it' },
  { scope: 'shared', match: 'prefix', path: '/tw/violations/', access: 'write', why: 'the first accuser creates a violation; the leader sets its status' },
  { scope: 'shared', match: 'prefix', path: '/tw/bans/', access: 'write', why: 'any node holding enough proofs writes the ban; an unban deletes it' },
  { scope: 'shared', match: 'prefix', path: '/tw/unbans/', access: 'write', why: "the operator's unban, through any node's API" },
  { scope: 'shared', match: 'prefix', path: '/tw/tokens/revoked/', access: 'write', why: "API token revocations, through any node's API" },
  {
    scope: 'shared',
    match: 'prefix',
    path: '/tw/events/',
    access: 'write',
    why: 'the event log, written and pruned by the leader (fenced); deposit events are checked by every node before they are passed on',
  },
  { scope: 'shared', match: 'prefix', path: '/tw/webhooks/', access: 'write', why: "webhook subscriptions, made and removed through any node's API (admin)" },
  {
    scope: 'shared',
    match: 'prefix',
    path: '/tw/webhook-state/',
    access: 'write',
    why: "webhook delivery progress: the leader (fenced); a removal through any node's API deletes it",
  },
]

/** The etcd user (and role) of node `id`: the CN of its etcd client certificate. */
export const etcdNodeUser = (id: number): string => `node-${id}`
export const ETCD_ROOT_USER = 'root'

/** One permission of a role, as etcd stores it: a key or a prefix range. */
export interface EtcdPermission {
  access: 'read' | 'write'
  key: string
  /** The prefix itself when `match` is prefix; undefined for a single key. */
  prefix?: string
}

/** The permissions of node `id`'s role, from {@link ETCD_ACL}. */
export function nodePermissions(id: number, table: readonly AclEntry[] = ETCD_ACL): EtcdPermission[] {
  if (!Number.isInteger(id) || id < 1 || id > 255) throw new Error(`node id must be 1..255, got ${id}`)
  return table.map((e) => {
    const path = e.scope === 'own' ? e.path.replaceAll('<id>', String(id)) : e.path
    return e.match === 'prefix' ? { access: e.access, key: path, prefix: path } : { access: e.access, key: path }
  })
}

/** True if node `id` may write `key` according to the table (what etcd will enforce). */
export function mayWrite(id: number, key: string, table: readonly AclEntry[] = ETCD_ACL): boolean {
  return nodePermissions(id, table).some((p) => p.access === 'write' && (p.prefix !== undefined ? key.startsWith(p.prefix) : key === p.key))
}

export interface ApplyAclResult {
  usersCreated: string[]
  rolesCreated: string[]
  /** Permissions revoked because the table no longer grants them (per role). */
  revoked: Record<string, number>
  /** null when etcd cannot say (3.4 has no AuthStatus). */
  authWasEnabled: boolean | null
}

/**
 * Applies the table with the root client (certificate CN `root`), idempotently: user and role
 * `root`, then per node a role `node-<id>` with exactly the table's permissions (stale ones
 * revoked) and a password-less user `node-<id>` holding it, then `auth enable`. Safe to run
 * again once auth is on (root's certificate still logs in as root).
 */
export async function applyEtcdAcl(client: Etcd3, nodeIds: readonly number[], table: readonly AclEntry[] = ETCD_ACL): Promise<ApplyAclResult> {
  const auth = client.auth
  const result: ApplyAclResult = { usersCreated: [], rolesCreated: [], revoked: {}, authWasEnabled: null }
  const users = new Set((await auth.userList()).users ?? [])
  const roles = new Set((await auth.roleList()).roles ?? [])
  const ensureUser = async (name: string, role: string) => {
    if (!roles.has(role)) {
      await auth.roleAdd({ name: role })
      roles.add(role)
      result.rolesCreated.push(role)
    }
    if (!users.has(name)) {
      await auth.userAdd({ name, options: { no_password: true } })
      users.add(name)
      result.usersCreated.push(name)
    }
    await auth.userGrantRole({ user: name, role })
  }
  await ensureUser(ETCD_ROOT_USER, 'root')
  for (const id of nodeIds) {
    const name = etcdNodeUser(id)
    const want = nodePermissions(id, table)
    if (!roles.has(name)) {
      await auth.roleAdd({ name })
      roles.add(name)
      result.rolesCreated.push(name)
    }
    const wanted = want.map(toRequest)
    const wantedIds = new Set(wanted.map(permId))
    const have = await client.role(name).permissions()
    // (etcd3's Role.revoke of an array grants instead: the auth client is called directly.)
    const stale = have.filter((p) => !wantedIds.has(permId(p)))
    for (const p of stale) await auth.roleRevokePermission({ role: name, key: p.range.start, range_end: p.range.end })
    if (stale.length) result.revoked[name] = stale.length
    const kept = new Set(have.filter((p) => wantedIds.has(permId(p))).map(permId))
    for (const w of wanted) {
      if (kept.has(permId(w))) continue
      await auth.roleGrantPermission({ name, perm: { permType: w.permission, key: w.range.start, range_end: w.range.end } })
    }
    if (!users.has(name)) {
      await auth.userAdd({ name, options: { no_password: true } })
      users.add(name)
      result.usersCreated.push(name)
    }
    await auth.userGrantRole({ user: name, role: name })
  }
  // AuthStatus is etcd >= 3.5; on 3.4 `auth enable` of an enabled store is a no-op anyway.
  const status = await auth.authStatus().catch(() => undefined)
  result.authWasEnabled = status ? status.enabled === true : null
  if (result.authWasEnabled !== true) await auth.authEnable()
  return result
}

function toRequest(p: EtcdPermission): { permission: 'Read' | 'Write'; range: Range } {
  return { permission: p.access === 'read' ? 'Read' : 'Write', range: p.prefix !== undefined ? Range.prefix(p.prefix) : new Range(p.key, Buffer.alloc(0)) }
}

/** Identity of a permission: type and byte range. */
function permId(p: { permission: string; range: Range }): string {
  return `${p.permission}|${p.range.start.toString('hex')}|${p.range.end.toString('hex')}`
}

/** Connection settings of the command-line entry point (environment, as the node reads them). */
export interface AclCliOptions {
  endpoints: string[]
  ca: string
  cert: string
  key: string
  nodes: number[]
}

/** Reads TW_ETCD_ENDPOINTS, TW_ETCD_CA, TW_ETCD_CERT (root's), TW_ETCD_KEY, TW_CLUSTER_SIZE. */
export function aclOptionsFromEnv(env: Record<string, string | undefined>): AclCliOptions {
  const need = (name: string): string => {
    const v = env[name]?.trim()
    if (!v) throw new Error(`${name} is required`)
    return v
  }
  const endpoints = need('TW_ETCD_ENDPOINTS')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const size = Number(env.TW_CLUSTER_SIZE?.trim() || '5')
  if (!Number.isInteger(size) || size < 1 || size > 255) throw new Error('TW_CLUSTER_SIZE must be 1..255')
  return {
    endpoints,
    ca: need('TW_ETCD_CA'),
    cert: need('TW_ETCD_CERT'),
    key: need('TW_ETCD_KEY'),
    nodes: Array.from({ length: size }, (_, i) => i + 1),
  }
}

/** An etcd client authenticated by a client certificate. */
export function certClient(o: { endpoints: string[]; ca: string; cert: string; key: string; dialTimeout?: number }): Etcd3 {
  return new Etcd3({
    hosts: o.endpoints,
    dialTimeout: o.dialTimeout ?? 5000,
    credentials: { rootCertificate: readFileSync(o.ca), certChain: readFileSync(o.cert), privateKey: readFileSync(o.key) },
  })
}

/**
 * `node apps/node/dist/cluster/etcd-acl.js`: applies the table with the root certificate,
 * retrying for up to TW_ETCD_ACL_TIMEOUT_S (default 60) while etcd comes up. Used by
 * `devnet up` and the compose `etcd-acl` one-shot service.
 */
async function main(): Promise<void> {
  const o = aclOptionsFromEnv(process.env)
  const deadline = Date.now() + 1000 * Number(process.env.TW_ETCD_ACL_TIMEOUT_S || '60')
  for (;;) {
    const client = certClient(o)
    try {
      const r = await applyEtcdAcl(client, o.nodes)
      process.stdout.write(
        `etcd ACL applied: ${o.nodes.length} node roles; users created: ${r.usersCreated.join(', ') || 'none'}; ` +
          `auth ${r.authWasEnabled === true ? 'was already enabled' : 'enabled'}\n`,
      )
      return
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 1000))
    } finally {
      client.close()
    }
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`etcd ACL: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
