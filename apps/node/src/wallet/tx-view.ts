import { BoundedMap } from '../common/bounded'
import type { EtcdEntry, EtcdRepository } from '../cluster/etcd.repository'
import { TERMINAL_STATES, WalletKeys, type TxRecord } from './wallet.types'

/** Finished records kept after their last watch event (a step reads them once more). */
const RECENT_MAX = 2000

/**
 * The transaction records as the `/tw/tx/` watch delivers them: the unfinished ones, and the
 * last few thousand that finished. A node's loops read their transactions here instead of
 * asking etcd on every step (one range and a get per transaction, on every vote, result and
 * record change of every send, on every node).
 *
 * Only a speed-up, never trusted for a decision: every write stays compare-and-swapped on the
 * record's revision, so a step that acted on a record the watch had not yet updated writes
 * nothing and reads it again. The whole set is read from etcd again every `resyncMs` (and
 * whenever the watch cannot be started): a watch event lost to a compaction is caught there.
 */
export class TxView {
  private readonly active = new Map<string, EtcdEntry<TxRecord>>()
  private readonly recent = new BoundedMap<string, EtcdEntry<TxRecord>>(RECENT_MAX)
  private watching: Promise<boolean> | null = null
  private readonly listeners: ((id: string) => void)[] = []
  private syncedAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly etcd: Pick<EtcdRepository, 'watchPrefix'>,
    private readonly resyncMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The unfinished transactions: from the view, or `read` (etcd) when the view is due for a
   * resync or has no watch. `readOne` settles a record the view holds but the read did not
   * return (finished and pruned, or created after the read).
   */
  async unfinished(read: () => Promise<EtcdEntry<TxRecord>[]>, readOne: (id: string) => Promise<EtcdEntry<TxRecord> | null>): Promise<EtcdEntry<TxRecord>[]> {
    if (!(await this.watch())) return read()
    if (this.now() - this.syncedAt >= this.resyncMs) {
      const fresh = await read()
      const ids = new Set(fresh.map((e) => e.value.id))
      for (const e of fresh) this.observe(e)
      for (const id of [...this.active.keys()].filter((id) => !ids.has(id))) {
        const e = await readOne(id)
        if (e) this.observe(e)
        else this.active.delete(id)
      }
      this.syncedAt = this.now()
    }
    return [...this.active.values()]
  }

  /** The newest record of `id` the view holds (unfinished or recently finished), or null: then read etcd. */
  latest(id: string): EtcdEntry<TxRecord> | null {
    return this.active.get(id) ?? this.recent.get(id) ?? null
  }

  /** Takes a record read from etcd or delivered by the watch; an older revision than the one held changes nothing. */
  observe(entry: EtcdEntry<TxRecord>): void {
    const id = entry.value?.id
    if (typeof id !== 'string' || entry.key !== WalletKeys.tx(id)) return
    const held = this.latest(id)
    if (held && BigInt(held.modRevision) >= BigInt(entry.modRevision)) return
    if (TERMINAL_STATES.includes(entry.value.state)) {
      this.active.delete(id)
      this.recent.set(id, entry)
    } else {
      this.active.set(id, entry)
    }
  }

  /**
   * Calls `listener(id)` after every change of a record, once the view holds it: a loop kicked
   * from here never reads a record older than the change that kicked it. False when the watch
   * cannot be started now (it is tried again on the next read; the loops step on their timer).
   */
  subscribe(listener: (id: string) => void): Promise<boolean> {
    this.listeners.push(listener)
    return this.watch()
  }

  /** Starts the watch once; false while it cannot be (every call then reads etcd, and tries again). */
  private watch(): Promise<boolean> {
    this.watching ??= this.etcd
      .watchPrefix(WalletKeys.txs, (key, deleted, entry) => {
        const id = key.slice(WalletKeys.txs.length)
        if (deleted) {
          this.active.delete(id)
          this.recent.delete(id)
        } else {
          const e = entry() as EtcdEntry<TxRecord> | null
          if (e) this.observe(e)
        }
        for (const listener of this.listeners) listener(id)
      })
      .then(
        () => true,
        () => {
          this.watching = null
          return false
        },
      )
    return this.watching
  }
}
