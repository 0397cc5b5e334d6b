import type { EtcdEntry, EtcdRepository } from './etcd.repository'

/**
 * The entries under an etcd prefix as its watch delivers them: read from etcd once, then kept
 * by the watch, and read again every `resyncMs` (an event lost to a compaction is caught
 * there) or on every call while the watch cannot be started. For loops that would otherwise
 * range over the prefix on every step.
 *
 * Never a basis for a write on its own: writes that depend on an entry compare its revision,
 * so one acted on from a view a moment behind etcd writes nothing.
 */
export class WatchedPrefix<T> {
  private entries = new Map<string, EtcdEntry<T>>()
  private readonly watch: () => Promise<boolean>
  private syncedAt = Number.NEGATIVE_INFINITY
  /** Changes delivered while a resync read is in flight (null: deleted): they are newer than the read. */
  private duringRead: Map<string, EtcdEntry<T> | null> | null = null

  constructor(
    private readonly etcd: Pick<EtcdRepository, 'watchPrefix' | 'getPrefix'>,
    readonly prefix: string,
    private readonly resyncMs = 30_000,
    private readonly now: () => number = Date.now,
    /** Called after each change the watch delivers is applied. */
    private readonly onChange: (key: string) => void = () => undefined,
  ) {
    this.watch = lazyWatch(etcd, prefix, (key, deleted, entry) => {
      const e = deleted ? null : (entry() as EtcdEntry<T> | null)
      if (!deleted && !e) return // not JSON: a read would fail on it too
      this.duringRead?.set(key, e)
      if (e === null) this.entries.delete(key)
      else if (newer(e, this.entries.get(key))) this.entries.set(key, e)
      this.onChange(key)
    })
  }

  /** Every entry under the prefix, in key order. */
  async list(): Promise<EtcdEntry<T>[]> {
    if (!(await this.watch())) return this.etcd.getPrefix<T>(this.prefix)
    if (this.now() - this.syncedAt >= this.resyncMs) await this.resync()
    return [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  private async resync(): Promise<void> {
    const changed = new Map<string, EtcdEntry<T> | null>()
    this.duringRead = changed
    try {
      const next = new Map((await this.etcd.getPrefix<T>(this.prefix)).map((e) => [e.key, e]))
      for (const [key, e] of changed) {
        if (e === null) next.delete(key)
        else if (newer(e, next.get(key))) next.set(key, e)
      }
      this.entries = next
      this.syncedAt = this.now()
    } finally {
      if (this.duringRead === changed) this.duringRead = null
    }
  }
}

/**
 * A watch of `prefix` started on the first call, and again on a later call after its start
 * failed (etcd unreachable): each call resolves whether the watch runs.
 */
export function lazyWatch(etcd: Pick<EtcdRepository, 'watchPrefix'>, prefix: string, onChange: Parameters<EtcdRepository['watchPrefix']>[1]): () => Promise<boolean> {
  let watching: Promise<boolean> | null = null
  return () =>
    (watching ??= etcd.watchPrefix(prefix, onChange).then(
      () => true,
      () => {
        watching = null
        return false
      },
    ))
}

/** Whether `e` is a later revision of its key than `held` (or nothing is held). */
export function newer<T>(e: EtcdEntry<T>, held: EtcdEntry<T> | null | undefined): boolean {
  return !held || BigInt(e.modRevision) > BigInt(held.modRevision)
}
