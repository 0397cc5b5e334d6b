import { Injectable } from '@nestjs/common'
import { createHash } from 'node:crypto'
import type { EntityManager } from 'typeorm'
import { canonicalJson } from '../common/canonical-json'
import { DatabaseRepository } from '../persistence/database.repository'
import { AuditLogEntity } from '../persistence/entities'

/** Advisory lock key serializing appends to the chain (all nodes share it). */
const AUDIT_CHAIN_LOCK = 0x7477_6175 // "twau"
export const GENESIS_HASH = '0'.repeat(64)

export interface AuditEntryInput {
  nodeId: number
  action: string
  actor: string
  details: Record<string, unknown>
  /**
   * The entry's unique id (from the node's spool), kept in the row as `details.auditEntryId`
   * so a replay after a crash can tell what is already written. Hashed with the details.
   */
  entryId?: string
  /** When the entry was recorded (default: now). */
  at?: Date
}

/** The details key that holds an entry's unique id. */
export const AUDIT_ENTRY_ID = 'auditEntryId'

export interface AuditChainCheck {
  ok: boolean
  checked: number
  /** id of the first row whose link or hash does not verify. */
  firstBrokenId: string | null
  reason: string | null
}

/** The hashed content of a row: everything but the hashes themselves. */
export function auditContent(row: Pick<AuditLogEntity, 'id' | 'nodeId' | 'action' | 'actor' | 'details' | 'createdAt'>): string {
  return canonicalJson({
    id: String(row.id),
    nodeId: row.nodeId,
    action: row.action,
    actor: row.actor,
    details: row.details,
    createdAt: row.createdAt.toISOString(),
  })
}

export function auditHash(prevHash: string, content: string): string {
  return createHash('sha256').update(prevHash, 'utf8').update(content, 'utf8').digest('hex')
}

/** audit_log rows: append under a transaction-scoped advisory lock, read in id order. */
@Injectable()
export class AuditRepository {
  constructor(private readonly db: DatabaseRepository) {}

  append(input: AuditEntryInput): Promise<AuditLogEntity> {
    return this.appendMany([input]).then((rows) => rows[0])
  }

  /** Appends `inputs` in order in one transaction: the chain lock is taken once for all of them. */
  appendMany(inputs: AuditEntryInput[]): Promise<AuditLogEntity[]> {
    return this.db.transaction(async (em) => {
      await em.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK])
      const last: { id: string; hash: string }[] = await em.query('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1')
      let prev = last.length ? { id: BigInt(last[0].id), hash: last[0].hash } : { id: 0n, hash: GENESIS_HASH }
      const rows: AuditLogEntity[] = []
      for (const input of inputs) {
        const row = await insertEntry(em, input, prev)
        prev = { id: BigInt(row.id), hash: row.hash }
        rows.push(row)
      }
      return rows
    })
  }

  /** Recomputes the whole chain in pages of `pageSize` rows. */
  verify(pageSize = 1000): Promise<AuditChainCheck> {
    return this.db.read(async (em) => {
      let prevHash = GENESIS_HASH
      let expectedId = 1n
      let checked = 0
      for (;;) {
        const rows: AuditLogEntity[] = await em
          .getRepository(AuditLogEntity)
          .createQueryBuilder('a')
          .where('a.id >= :from', { from: expectedId.toString() })
          .orderBy('a.id', 'ASC')
          .limit(pageSize)
          .getMany()
        if (rows.length === 0) return { ok: true, checked, firstBrokenId: null, reason: null }
        for (const row of rows) {
          const broken = (reason: string): AuditChainCheck => ({ ok: false, checked, firstBrokenId: String(row.id), reason })
          if (BigInt(row.id) !== expectedId) return broken(`id ${row.id} follows ${expectedId - 1n}: rows are missing`)
          if (row.prevHash !== prevHash) return broken('prev_hash does not match the previous row')
          if (auditHash(row.prevHash, auditContent(row)) !== row.hash) return broken('hash does not match the row content')
          prevHash = row.hash
          expectedId += 1n
          checked += 1
        }
      }
    })
  }

  /** The entry id of the last row `nodeId` wrote (null: none, or written without one). */
  lastEntryId(nodeId: number): Promise<string | null> {
    return this.db.read(async (em) => {
      const rows: { entry_id: string | null }[] = await em.query(`SELECT details->>'${AUDIT_ENTRY_ID}' AS entry_id FROM audit_log WHERE node_id = $1 ORDER BY id DESC LIMIT 1`, [
        nodeId,
      ])
      return rows[0]?.entry_id ?? null
    })
  }

  recent(limit: number): Promise<AuditLogEntity[]> {
    return this.db.read((em) => em.getRepository(AuditLogEntity).find({ order: { id: 'DESC' }, take: limit }))
  }
}

/** Inserts one row after `prev` (the caller holds the chain lock). */
async function insertEntry(em: EntityManager, input: AuditEntryInput, prev: { id: bigint; hash: string }): Promise<AuditLogEntity> {
  const row = new AuditLogEntity()
  row.id = (prev.id + 1n).toString()
  row.nodeId = input.nodeId
  row.action = input.action
  row.actor = input.actor
  // Round-trip through JSON so that what is hashed is exactly what jsonb gives back.
  const details = input.entryId === undefined ? input.details : { ...input.details, [AUDIT_ENTRY_ID]: input.entryId }
  row.details = JSON.parse(JSON.stringify(details)) as Record<string, unknown>
  row.createdAt = input.at ?? new Date()
  row.prevHash = prev.hash
  row.hash = auditHash(row.prevHash, auditContent(row))
  await em.query('INSERT INTO audit_log (id, node_id, action, actor, details, created_at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    row.id,
    row.nodeId,
    row.action,
    row.actor,
    JSON.stringify(row.details),
    row.createdAt,
    row.prevHash,
    row.hash,
  ])
  return row
}
