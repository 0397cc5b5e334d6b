/**
 * Per-node values about one subject (the votes on a send, the results of one signing attempt),
 * each in its node's etcd partition, as the partition watch delivers them: read from etcd the
 * first time a subject is asked about, then kept by the events (each carries its value), and
 * read again after `resyncMs` in case an event was lost. Saves a read per node on every step.
 */
export class PartitionBook<T> {
  private readonly books = new Map<string, { byNode: Map<number, T>; readAt: number }>()

  constructor(
    private readonly resyncMs: number,
    /** The node a value names; a value that does not name the node whose partition holds it does not count. */
    private readonly nodeOf: (value: T) => number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** A key of `subject` in `nodeId`'s partition changed (`value` null: deleted). */
  changed(subject: string, nodeId: number, value: T | null): void {
    const held = this.books.get(subject)
    if (!held) return // not read yet: the first read has it
    if (value !== null && this.nodeOf(value) === nodeId) held.byNode.set(nodeId, value)
    else held.byNode.delete(nodeId)
  }

  /** The values about `subject`, in node order: held, or read with `load` (first time, or due for a resync). */
  async values(subject: string, load: () => Promise<T[]>): Promise<T[]> {
    let held = this.books.get(subject)
    if (!held || this.now() - held.readAt > this.resyncMs) {
      // Held before the read: a value whose event arrives during the read is kept (it is newer).
      const fresh = { byNode: new Map<number, T>(), readAt: this.now() }
      this.books.set(subject, fresh)
      for (const v of await load()) {
        const n = this.nodeOf(v)
        if (n !== undefined && !fresh.byNode.has(n)) fresh.byNode.set(n, v)
      }
      held = fresh
    }
    return [...held.byNode.entries()].sort(([a], [b]) => a - b).map(([, v]) => v)
  }

  /** Forgets every subject `keep` says no to (finished sends, past attempts). */
  retain(keep: (subject: string) => boolean): void {
    for (const s of this.books.keys()) if (!keep(s)) this.books.delete(s)
  }
}
