import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { AuditEntryInput } from './audit.repository'

/** One spooled audit entry: a unique id (recorded in the row, so a replay skips what is written), when it was recorded, the entry. */
export interface SpoolRecord {
  id: string
  at: string
  entry: AuditEntryInput
}

/** Entries per segment file before the next append starts a new one. */
export const SEGMENT_ENTRIES = 1000
const SEGMENT_NAME = /^seg-(\d{12})\.jsonl$/

interface Segment {
  seq: number
  path: string
  /** Entries in the file (valid lines). */
  count: number
  /** Entries of this segment already written to PostgreSQL (only the head segment has any). */
  consumed: number
  /** The entries, while in memory: the segment being appended to, and the head once read. */
  records: SpoolRecord[] | null
}

export interface SpoolLogger {
  warn(message: string): void
  error(message: string): void
}

/**
 * The audit spool: an append-only queue of JSONL segment files on the node's disk.
 * `append` writes entries in order and fsyncs them (one fdatasync per batch) before it
 * resolves; `peek` reads from the head, `consume` drops what PostgreSQL has (a segment file is
 * deleted once all its entries are written). Nothing but the segment files is kept: after a
 * crash the whole spool is replayed and the writer skips what the database already has.
 *
 * A line that does not parse (the torn last line of a crash mid-write, or damage) is skipped
 * with a warning, never the rest of the file. Appends after a restart, or after a failed
 * write, go to a fresh segment, so a torn tail is never glued to a new line.
 */
export class AuditSpool {
  private readonly segments: Segment[] = []
  private tail: { segment: Segment; fd: FileHandle } | null = null
  private appending = false
  private nextSeq = 1
  private total = 0

  constructor(
    readonly dir: string,
    private readonly log: SpoolLogger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const names = readdirSync(dir)
      .map((name) => ({ name, m: SEGMENT_NAME.exec(name) }))
      .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
      .map((x) => ({ name: x.name, seq: Number(x.m[1]) }))
      .sort((a, b) => a.seq - b.seq)
    for (const { name, seq } of names) {
      const path = join(dir, name)
      const records = this.read(path)
      if (records.length === 0) {
        void unlink(path).catch(() => undefined)
        continue
      }
      this.segments.push({ seq, path, count: records.length, consumed: 0, records: this.segments.length === 0 ? records : null })
      this.total += records.length
      this.nextSeq = seq + 1
    }
  }

  /** Entries spooled and not yet consumed. */
  get pending(): number {
    return this.total
  }

  /** Appends `records` in order and fsyncs them; throws (nothing half-counted) when the disk refuses. One append at a time. */
  async append(records: SpoolRecord[]): Promise<void> {
    if (records.length === 0) return
    if (this.appending) throw new Error('audit spool: concurrent append')
    this.appending = true
    try {
      if (this.tail && this.tail.segment.count >= SEGMENT_ENTRIES) await this.closeTail()
      const tail = this.tail ?? (await this.openTail())
      const text = records.map((r) => JSON.stringify(r) + '\n').join('')
      try {
        await tail.fd.appendFile(text, 'utf8')
        await tail.fd.datasync()
      } catch (err) {
        // Part of the text may be in the file: never append after it (the next append starts a new segment).
        await this.closeTail()
        throw err
      }
      tail.segment.records?.push(...records)
      tail.segment.count += records.length
      this.total += records.length
    } finally {
      this.appending = false
    }
  }

  /** Up to `max` entries from the head, oldest first. */
  peek(max: number): SpoolRecord[] {
    const out: SpoolRecord[] = []
    for (const s of this.segments) {
      if (out.length >= max) break
      const records = this.load(s)
      out.push(...records.slice(s.consumed, s.consumed + (max - out.length)))
    }
    return out
  }

  /** Drops the `n` oldest entries (written to PostgreSQL); deletes segment files that are done. */
  async consume(n: number): Promise<void> {
    while (n > 0 && this.segments.length) {
      const head = this.segments[0]
      const take = Math.min(n, head.count - head.consumed)
      head.consumed += take
      this.total -= take
      n -= take
      if (head.consumed < head.count) break
      if (this.tail?.segment === head) {
        if (this.appending) break // the append in flight closes or extends it; deleted once consumed later
        await this.closeTail()
      }
      this.segments.shift()
      await unlink(head.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.log.warn(`audit spool: could not delete ${head.path}: ${err.message}`)
      })
      await syncDir(this.dir)
    }
  }

  /**
   * If the entry `id` is still spooled, consumes it and every entry before it (they are in the
   * database: the writer writes in order). Returns how many were consumed.
   */
  async consumeThrough(id: string): Promise<number> {
    let before = 0
    for (const s of this.segments) {
      const records = this.load(s, false)
      const at = records.findIndex((r, i) => i >= s.consumed && r.id === id)
      if (at >= 0) {
        const n = before + (at - s.consumed) + 1
        await this.consume(n)
        return n
      }
      before += s.count - s.consumed
    }
    return 0
  }

  async close(): Promise<void> {
    if (!this.appending) await this.closeTail()
  }

  /** The segment's entries (reading its file if they are not in memory; `keep` caches them). */
  private load(s: Segment, keep = true): SpoolRecord[] {
    if (s.records) return s.records
    const records = this.read(s.path)
    if (records.length !== s.count) this.log.warn(`audit spool: ${s.path} now holds ${records.length} entries, ${s.count} were counted`)
    if (keep) s.records = records
    return records
  }

  private read(path: string): SpoolRecord[] {
    const text = readFileSync(path, 'utf8')
    const lines = text.split('\n')
    const last = lines.pop() ?? ''
    const records: SpoolRecord[] = []
    lines.forEach((line, i) => {
      const r = parseRecord(line)
      if (r) records.push(r)
      else this.log.error(`audit spool: ${path} line ${i + 1} is damaged and skipped: ${JSON.stringify(line.slice(0, 120))}`)
    })
    if (last.length) this.log.warn(`audit spool: ${path} ends in a torn line (${last.length} bytes, a crash mid-write); skipped`)
    return records
  }

  private async openTail(): Promise<{ segment: Segment; fd: FileHandle }> {
    const seq = this.nextSeq++
    const path = join(this.dir, `seg-${String(seq).padStart(12, '0')}.jsonl`)
    const fd = await open(path, 'wx', 0o600)
    await syncDir(this.dir)
    const segment: Segment = { seq, path, count: 0, consumed: 0, records: [] }
    this.segments.push(segment)
    this.tail = { segment, fd }
    return this.tail
  }

  private async closeTail(): Promise<void> {
    const tail = this.tail
    if (!tail) return
    this.tail = null
    // Keep the entries in memory only while the segment is the head (the writer reads it next).
    if (this.segments[0] !== tail.segment) tail.segment.records = null
    await tail.fd.close().catch(() => undefined)
  }
}

function parseRecord(line: string): SpoolRecord | null {
  try {
    const r = JSON.parse(line) as SpoolRecord
    const e = r?.entry
    if (typeof r.id !== 'string' || typeof r.at !== 'string' || Number.isNaN(Date.parse(r.at))) return null
    if (!e || typeof e.nodeId !== 'number' || typeof e.action !== 'string' || typeof e.actor !== 'string') return null
    if (typeof e.details !== 'object' || e.details === null) return null
    return r
  } catch {
    return null
  }
}

/** fsync the directory, so a created or deleted segment file survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r')
  try {
    await fd.sync()
  } catch {
    // Some file systems refuse fsync on a directory; the entries themselves are fsynced.
  } finally {
    await fd.close()
  }
}
