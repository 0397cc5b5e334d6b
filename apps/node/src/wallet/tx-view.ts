import { BoundedMap } from '../common/bounded'
import type { EtcdEntry, EtcdRepository } from '../cluster/etcd.repository'
import { lazyWatch, newer, WatchedPrefix } from '../cluster/watched-prefix'
import { TERMINAL_STATES, WalletKeys, type TxRecord } from './wallet.types'

/** Finished records kept after their last watch event (a step reads them once more). */
const RECENT_MAX = 2000

/**
 * The transaction records as the `/tw/tx/` watch delivers them, and the `/tw/tx-active/` index
 * that says which are unfinished (a record is followed only while the index names it, as
 * before the view: a finished record rewritten in etcd is not picked up again as active): the
 * unfinished ones, and the last few thousand that finished. A node's loops read their
 * transactions here instead of asking etcd on every step (one range and a get per transaction,
 * on every vote, result and record change of every send, on every node).
 *
 * Only a speed-up, never trusted for a decision: every write stays compare-and-swapped on the
 * record's revision, so a step that acted on a record the watch had not yet updated writes
 * nothing and reads it again. The index and the records it names are read from etcd again
 * every `resyncMs` (and on every call while the watch cannot be started): a watch event lost
 * to a compaction is caught there.
 */
export class TxView {
  private readonly active = new Map<string, EtcdEntry<TxRecord>>()
  private readonly recent = new BoundedMap<string, EtcdEntry<TxRecord>>(RECENT_MAX)
  /** Starts the `/tw/tx/` watch on the first call (and after a failed start); whether it runs. */
  private readonly watch: () => Promise<boolean>
  private readonly listeners: ((id: string) => void)[] = []
  private syncedAt = Number.NEGATIVE_INFINITY
  /** The `/tw/tx-active/` index: a new entry kicks the listeners too (its record's event may come first). */
  private readonly index: WatchedPrefix<unknown>

  constructor(
    etcd: Pick<EtcdRepository, 'watchPrefix' | 'getPrefix'>,
    private readonly resyncMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.watch = lazyWatch(etcd, WalletKeys.txs, (key, deleted, entry) => {
      const id = key.slice(WalletKeys.txs.length)
      if (deleted) {
        this.active.delete(id)
        this.recent.delete(id)
      } else {
        const e = entry() as EtcdEntry<TxRecord> | null
        if (e) this.observe(e)
      }
      this.notify(id)
    })
    this.index = new WatchedPrefix<unknown>(etcd, WalletKeys.actives, resyncMs, now, (key) => this.notify(key.slice(WalletKeys.actives.length)))
  }

  /**
   * The unfinished transactions the index names: from the view; `readOne` (etcd) for one the
   * view does not hold yet, and for all of them when they are due for a resync. `read` reads
   * everything from etcd while the watch cannot be started.
   */
  async unfinished(read: () => Promise<EtcdEntry<TxRecord>[]>, readOne: (id: string) => Promise<EtcdEntry<TxRecord> | null>): Promise<EtcdEntry<TxRecord>[]> {
    if (!(await this.watch())) return read()
    const ids = (await this.index.list()).map((e) => e.key.slice(WalletKeys.actives.length))
    const due = this.now() - this.syncedAt >= this.resyncMs
    const out: EtcdEntry<TxRecord>[] = []
    for (const id of ids) {
      if (due || !this.active.has(id)) {
        const e = await readOne(id)
        if (e) this.observe(e)
      }
      const e = this.active.get(id)
      if (e) out.push(e)
    }
    if (due) {
      // Records no longer named by the index (finished, or pruned while the watch was away).
      const named = new Set(ids)
      for (const id of [...this.active.keys()]) if (!named.has(id)) this.active.delete(id)
      this.syncedAt = this.now()
    }
    return out
  }

  /** The newest record of `id` the view holds (unfinished or recently finished), or null: then read etcd. */
  latest(id: string): EtcdEntry<TxRecord> | null {
    return this.active.get(id) ?? this.recent.get(id) ?? null
  }

  /** Takes a record read from etcd or delivered by the watch; an older revision than the one held changes nothing. */
  observe(entry: EtcdEntry<TxRecord>): void {
    const id = entry.value?.id
    if (typeof id !== 'string' || entry.key !== WalletKeys.tx(id)) return
    if (!newer(entry, this.latest(id))) return
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

  private notify(id: string): void {
    for (const listener of this.listeners) listener(id)
  }
}
