import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * API bearer tokens (issue 7): only the SHA-256 of each token is stored. `tw_app` may read,
 * insert and update (revoke, last use) but not delete: a revoked token stays on record.
 */
export class ApiTokens1764000000000 implements MigrationInterface {
  name = 'ApiTokens1764000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
        role text NOT NULL CHECK (role IN ('viewer','operator','admin')),
        token_sha256 char(64) NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz NULL,
        last_used_at timestamptz NULL
      )`)
    await q.query(`REVOKE ALL ON api_tokens FROM PUBLIC`)
    await q.query(`GRANT SELECT, INSERT, UPDATE ON api_tokens TO tw_app`)
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_tokens`)
  }
}
