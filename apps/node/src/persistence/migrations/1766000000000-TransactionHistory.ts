import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * Transaction history from PostgreSQL (issue 14): finished transactions leave etcd after the
 * retention, so each node's mirror row carries what the API shows: the transaction id, the
 * whole record as etcd last held it, and the request hash of its Idempotency-Key (a retry
 * after the etcd record is gone still finds the one transaction). Listed newest first, by
 * the record's creation time then id.
 */
export class TransactionHistory1766000000000 implements MigrationInterface {
  name = 'TransactionHistory1766000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE transactions ADD COLUMN IF NOT EXISTS tx_id text`)
    await q.query(`ALTER TABLE transactions ADD COLUMN IF NOT EXISTS record jsonb`)
    await q.query(`ALTER TABLE transactions ADD COLUMN IF NOT EXISTS body_hash text`)
    await q.query(`CREATE INDEX IF NOT EXISTS transactions_history_idx ON transactions (node_id, created_at DESC, tx_id DESC)`)
    await q.query(`CREATE INDEX IF NOT EXISTS transactions_tx_id_idx ON transactions (tx_id)`)
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS transactions_tx_id_idx`)
    await q.query(`DROP INDEX IF EXISTS transactions_history_idx`)
    await q.query(`ALTER TABLE transactions DROP COLUMN IF EXISTS body_hash`)
    await q.query(`ALTER TABLE transactions DROP COLUMN IF EXISTS record`)
    await q.query(`ALTER TABLE transactions DROP COLUMN IF EXISTS tx_id`)
  }
}
