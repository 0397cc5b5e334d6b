import { DrillBehaviour, DrillBehaviours } from '@tw/api'
import { CliError, EXIT_USAGE } from '../errors'
import { CLUSTER_SIZE } from './state'

/** One devnet node started misbehaving on purpose (`devnet up --byzantine <node>:<behaviour>`). */
export interface ByzantineAssignment {
  node: number
  behaviours: DrillBehaviour[]
}

/** Is `b` a drill behaviour the node knows? */
export function isDrillBehaviour(b: string): b is DrillBehaviour {
  return (DrillBehaviours as readonly string[]).includes(b)
}

/**
 * A comma list of drill behaviours (`corrupt-share,delay`), trimmed and deduplicated; throws
 * UNKNOWN_BEHAVIOUR (exit 2) naming the unknown ones and the known ones.
 */
export function parseBehaviours(input: string, what = 'behaviour list'): DrillBehaviour[] {
  const list = input
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (list.length === 0) {
    throw new CliError('UNKNOWN_BEHAVIOUR', `${what} "${input}" names no behaviour; known: ${DrillBehaviours.join(', ')}`, EXIT_USAGE)
  }
  const unknown = list.filter((b) => !isDrillBehaviour(b))
  if (unknown.length > 0) {
    throw new CliError(
      'UNKNOWN_BEHAVIOUR',
      `unknown drill behaviour${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} in ${what} "${input}"; known: ${DrillBehaviours.join(', ')}`,
      EXIT_USAGE,
    )
  }
  return [...new Set(list)] as DrillBehaviour[]
}

/**
 * One `--byzantine` value: `<node>:<behaviour>[,<behaviour>…]` with node 1..5. Throws
 * BAD_BYZANTINE_SPEC or UNKNOWN_BEHAVIOUR (exit 2).
 */
export function parseByzantineSpec(input: string): ByzantineAssignment {
  const m = /^\s*([^:]*):(.*)$/.exec(input)
  if (!m) {
    throw new CliError('BAD_BYZANTINE_SPEC', `--byzantine "${input}" must be <node>:<behaviour>[,<behaviour>], e.g. 5:corrupt-share`, EXIT_USAGE)
  }
  const node = Number(m[1].trim())
  if (!/^\d+$/.test(m[1].trim()) || node < 1 || node > CLUSTER_SIZE) {
    throw new CliError('BAD_BYZANTINE_SPEC', `--byzantine "${input}": node must be 1..${CLUSTER_SIZE}, got "${m[1].trim()}"`, EXIT_USAGE)
  }
  return { node, behaviours: parseBehaviours(m[2], `--byzantine "${input}"`) }
}

/** Several `--byzantine` values: one entry per node (behaviours of a repeated node merged), sorted by node. */
export function mergeByzantine(specs: readonly ByzantineAssignment[]): ByzantineAssignment[] {
  const byNode = new Map<number, Set<DrillBehaviour>>()
  for (const s of specs) {
    const set = byNode.get(s.node) ?? new Set<DrillBehaviour>()
    for (const b of s.behaviours) set.add(b)
    byNode.set(s.node, set)
  }
  return [...byNode.entries()].sort(([a], [b]) => a - b).map(([node, set]) => ({ node, behaviours: [...set] }))
}

/** Same nodes with the same behaviours (order ignored)? */
export function sameByzantine(a: readonly ByzantineAssignment[], b: readonly ByzantineAssignment[]): boolean {
  const key = (l: readonly ByzantineAssignment[]): string =>
    mergeByzantine(l)
      .map((x) => `${x.node}:${[...x.behaviours].sort().join(',')}`)
      .join(';')
  return key(a) === key(b)
}

/** `node 3: equivocate-vote; node 5: corrupt-share`. */
export function describeByzantine(list: readonly ByzantineAssignment[]): string {
  return list.map((a) => `node ${a.node}: ${a.behaviours.join(',')}`).join('; ')
}

/** The loud stderr line of a devnet started with drill behaviours. */
export function byzantineWarning(list: readonly ByzantineAssignment[]): string {
  return (
    `!! BYZANTINE DRILL: ${describeByzantine(list)} misbehave on purpose (TW_BYZANTINE); every devnet node accepts ` +
    'drill changes at run time (TW_BYZANTINE_DRILL=true). Expect violations and bans. Devnet only: a production config refuses drill mode.'
  )
}

/**
 * The drill environment of node `id`: TW_BYZANTINE_DRILL=true on every node when any drill
 * behaviour is configured, TW_BYZANTINE only on the named nodes; nothing without a drill.
 */
export function byzantineEnv(list: readonly ByzantineAssignment[] | undefined, id: number): Record<string, string> {
  if (!list || list.length === 0) return {}
  const mine = list.find((a) => a.node === id)
  return { TW_BYZANTINE_DRILL: 'true', ...(mine && mine.behaviours.length > 0 ? { TW_BYZANTINE: mine.behaviours.join(',') } : {}) }
}

/** What `devnet up` does with the drill: the drill the nodes will run, and why a request was not applied. */
export interface ByzantinePlan {
  /** The drill to record in state.json and start stopped nodes with. */
  byzantine: ByzantineAssignment[]
  /** True if state.json changes. */
  changed: boolean
  /** Set when a different drill was asked for while these nodes run (they keep their environment). */
  blockedBy?: number[]
}

/**
 * `requested` undefined keeps `current` (no flag); `[]` clears it (`--no-byzantine`); anything
 * else replaces it — unless a node already runs, since a node takes its drill when it starts.
 */
export function planByzantine(
  current: readonly ByzantineAssignment[] | undefined,
  requested: readonly ByzantineAssignment[] | undefined,
  runningNodes: readonly number[],
): ByzantinePlan {
  const now = [...(current ?? [])]
  if (requested === undefined || sameByzantine(requested, now)) return { byzantine: now, changed: false }
  if (runningNodes.length > 0) return { byzantine: now, changed: false, blockedBy: [...runningNodes] }
  return { byzantine: mergeByzantine(requested), changed: true }
}

/** The warning when a drill change waits for `devnet down`. */
export function byzantineBlockedWarning(current: readonly ByzantineAssignment[], requested: readonly ByzantineAssignment[], running: readonly number[]): string {
  const now = current.length > 0 ? `the drill ${describeByzantine(current)}` : 'no Byzantine drill'
  return (
    `Warning: node(s) ${running.join(', ')} already run with ${now}; the drill is unchanged. ` +
    'A node takes its drill behaviours when it starts: run `threshold-wallet devnet down`, then `threshold-wallet devnet up` ' +
    (requested.length > 0 ? 'with the same --byzantine flags' : 'with --no-byzantine') +
    ' to change it.'
  )
}
