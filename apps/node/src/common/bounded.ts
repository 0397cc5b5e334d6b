/**
 * A Map that keeps at most `max` entries: setting a new key when full drops the oldest one
 * (insertion order; setting an existing key refreshes it). For the per-transaction memos a node
 * keeps while it runs (first votes seen, accusations made, mirrors written, derivations): they
 * stay bounded however long the node runs, and what is dropped is what is least likely to be
 * needed again.
 *
 * @example
 * const seen = new BoundedMap<string, SignedVote>(50_000)
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super()
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`)
  }

  override set(key: K, value: V): this {
    if (super.has(key)) super.delete(key)
    else if (this.size >= this.max) super.delete(this.keys().next().value as K)
    return super.set(key, value)
  }
}

/** A Set that keeps at most `max` members, dropping the oldest ({@link BoundedMap}). */
export class BoundedSet<T> extends Set<T> {
  constructor(private readonly max: number) {
    super()
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`)
  }

  override add(value: T): this {
    if (super.has(value)) super.delete(value)
    else if (this.size >= this.max) super.delete(this.values().next().value as T)
    return super.add(value)
  }
}
