import type { EtcdEntry } from '../cluster/etcd.repository'

type Ops = { absent?: string[]; unchanged?: [string, string][]; puts?: [string, unknown][]; deletes?: string[] }

/**
 * An in-memory etcd for unit tests with real revisions (one counter; every write bumps it;
 * `createRevision`/`modRevision` as etcd keeps them), the compare-and-swap calls of
 * {@link EtcdRepository} (`putIfAbsent`, `atomic`, `fencedTxn` fenced on {@link term}), and
 * fault injection: {@link failAtomic} makes the next `atomic` calls throw before or after
 * they apply (a timed-out call that did or did not commit), {@link beforeAtomic} runs a hook
 * first (to interleave a concurrent writer).
 */
export class FakeEtcd {
  private readonly kv = new Map<string, { value: string; createRevision: number; modRevision: number }>()
  private rev = 0
  sessionLeaseId = 'lease'
  /** The leader term fenced writes must carry. */
  term = '1'
  /** Faults of the next `atomic` calls, in order: `before` throws without applying, `after` applies then throws. */
  readonly failAtomic: ('before' | 'after')[] = []
  /** Runs before every `atomic` (after the fault pick, before the compare). */
  beforeAtomic: ((ops: Ops) => Promise<void> | void) | null = null
  /** Every `atomic` call's ops (including failed and faulted ones). */
  readonly atomics: Ops[] = []
  /** Every `fencedTxn` call's ops (including failed ones). */
  readonly fenced: Ops[] = []
  /** Runs before every `fencedTxn` (before the term and the compares are checked). */
  beforeFenced: ((ops: Ops) => Promise<void> | void) | null = null

  has(key: string): boolean {
    return this.kv.has(key)
  }

  value<T>(key: string): T | undefined {
    const e = this.kv.get(key)
    return e ? (JSON.parse(e.value) as T) : undefined
  }

  keys(prefix = ''): string[] {
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort()
  }

  async get<T>(key: string): Promise<EtcdEntry<T> | null> {
    const e = this.kv.get(key)
    return e ? { key, value: JSON.parse(e.value) as T, createRevision: String(e.createRevision), modRevision: String(e.modRevision), lease: '0' } : null
  }

  async getPrefix<T>(prefix: string): Promise<EtcdEntry<T>[]> {
    const out: EtcdEntry<T>[] = []
    for (const key of this.keys(prefix)) out.push((await this.get<T>(key))!)
    return out
  }

  /** Pages of {@link getPrefix} (as EtcdRepository.getPrefixPaged reads them); counts the pages read. */
  pagesRead = 0
  async *getPrefixPaged<T>(prefix: string, pageSize = 200): AsyncGenerator<EtcdEntry<T>[]> {
    let after = ''
    for (;;) {
      const keys = this.keys(prefix)
        .filter((k) => k > after)
        .slice(0, pageSize)
      if (keys.length === 0) return
      this.pagesRead++
      const page: EtcdEntry<T>[] = []
      for (const key of keys) page.push((await this.get<T>(key))!)
      yield page
      after = keys[keys.length - 1]
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    this.apply({ puts: [[key, value]] })
  }

  async putEphemeral(key: string, value: unknown): Promise<void> {
    this.apply({ puts: [[key, value]] })
  }

  async putIfAbsent(key: string, value: unknown): Promise<boolean> {
    return this.txn({ absent: [key], puts: [[key, value]] })
  }

  async delete(key: string): Promise<void> {
    this.apply({ deletes: [key] })
  }

  async atomic(ops: Ops): Promise<boolean> {
    this.atomics.push(ops)
    const fault = this.failAtomic.shift()
    if (this.beforeAtomic) await this.beforeAtomic(ops)
    if (fault === 'before') throw new Error('etcd txn: no answer within 3500 ms')
    const ok = this.txn(ops)
    if (fault === 'after') throw new Error('etcd txn: no answer within 3500 ms')
    return ok
  }

  async fencedTxn(term: string, ops: Ops): Promise<boolean> {
    this.fenced.push(ops)
    if (this.beforeFenced) await this.beforeFenced(ops)
    if (term !== this.term) return false
    return this.txn(ops)
  }

  async fencedPut(term: string, key: string, value: unknown): Promise<boolean> {
    return this.fencedTxn(term, { puts: [[key, value]] })
  }

  async fencedDelete(term: string, key: string): Promise<boolean> {
    return this.fencedTxn(term, { deletes: [key] })
  }

  /** While true, writes reach no watcher (watch events lost, as to a compaction). */
  muted = false
  private readonly watchers: { prefix: string; onChange: (key: string, deleted: boolean, entry: () => EtcdEntry<unknown> | null) => void }[] = []

  /** Calls `onChange` on every later put/delete under `prefix`, at once (a real watch delivers them a moment later). */
  async watchPrefix(prefix: string, onChange: (key: string, deleted: boolean, entry: () => EtcdEntry<unknown> | null) => void): Promise<void> {
    this.watchers.push({ prefix, onChange })
  }

  private txn(ops: Ops): boolean {
    for (const key of ops.absent ?? []) if (this.kv.has(key)) return false
    for (const [key, rev] of ops.unchanged ?? []) if (String(this.kv.get(key)?.modRevision ?? 0) !== rev) return false
    this.apply(ops)
    return true
  }

  private apply(ops: Ops): void {
    const rev = ++this.rev
    for (const [key, value] of ops.puts ?? []) {
      const prev = this.kv.get(key)
      this.kv.set(key, { value: JSON.stringify(value), createRevision: prev?.createRevision ?? rev, modRevision: rev })
    }
    const deleted = (ops.deletes ?? []).filter((key) => this.kv.delete(key))
    for (const w of this.muted ? [] : this.watchers) {
      for (const [key] of ops.puts ?? []) {
        if (!key.startsWith(w.prefix)) continue
        const e = this.kv.get(key)!
        const entry = { key, value: JSON.parse(e.value) as unknown, createRevision: String(e.createRevision), modRevision: String(e.modRevision), lease: '0' }
        w.onChange(key, false, () => entry)
      }
      for (const key of deleted) if (key.startsWith(w.prefix)) w.onChange(key, true, () => null)
    }
  }
}
