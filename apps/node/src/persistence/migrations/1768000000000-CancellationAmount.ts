import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * A cancellation (`tx cancel`, issue 16) pays nothing out: its amount is 0. The mirror took only
 * positive amounts, so a cancellation was never mirrored (and its history, and the leader's
 * lookup of it by txid, missed it).
 */
export class CancellationAmount1768000000000 implements MigrationInterface {
  name = 'CancellationAmount1768000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_amount_sats_check`)
    await q.query(`ALTER TABLE transactions ADD CONSTRAINT transactions_amount_sats_check CHECK (amount_sats >= 0)`)
  }

  async down(q: QueryRunner): Promise<void> {
    // NOT VALID: the cancellations mirrored meanwhile stay (history is never deleted).
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_amount_sats_check`)
    await q.query(`ALTER TABLE transactions ADD CONSTRAINT transactions_amount_sats_check CHECK (amount_sats > 0) NOT VALID`)
  }
}
