import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * `GET /api/v1/transactions/:id` also takes the Bitcoin txid (issue 16): a node looks its own
 * mirror rows up by txid, so the index is per node.
 */
export class TransactionTxid1767000000000 implements MigrationInterface {
  name = 'TransactionTxid1767000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS transactions_txid_idx ON transactions (node_id, txid)`)
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS transactions_txid_idx`)
  }
}
