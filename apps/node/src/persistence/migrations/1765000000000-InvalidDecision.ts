import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * A new violation type (issue 13): `invalid_decision`, a signing attempt its leader signed
 * without the quorum it must carry.
 */
export class InvalidDecision1765000000000 implements MigrationInterface {
  name = 'InvalidDecision1765000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE byzantine_violations DROP CONSTRAINT IF EXISTS byzantine_violations_type_check`)
    await q.query(
      `ALTER TABLE byzantine_violations ADD CONSTRAINT byzantine_violations_type_check CHECK (type IN ('double_vote','invalid_signature','minority_attack','protocol_violation','invalid_decision'))`,
    )
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM byzantine_violations WHERE type = 'invalid_decision'`)
    await q.query(`ALTER TABLE byzantine_violations DROP CONSTRAINT IF EXISTS byzantine_violations_type_check`)
    await q.query(
      `ALTER TABLE byzantine_violations ADD CONSTRAINT byzantine_violations_type_check CHECK (type IN ('double_vote','invalid_signature','minority_attack','protocol_violation'))`,
    )
  }
}
