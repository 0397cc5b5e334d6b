import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * The first schema: the seven tables of DESIGN §1, the append-only audit log and the
 * application role.
 *
 * Roles: migrations run as the role that owns the tables (the "migration role", e.g.
 * `postgres` on a devnet). In production the node connects as `tw_app`, which this migration
 * creates if missing (without a password: the operator sets one with
 * `ALTER ROLE tw_app PASSWORD '...'`). `tw_app` may read and write the mutable tables but
 * only SELECT and INSERT the audit log; nobody but the owner may TRUNCATE it, and a trigger
 * refuses UPDATE, DELETE and TRUNCATE even for the owner unless the trigger is disabled
 * (which itself needs the owner and shows up in the hash chain's verification).
 */
export class InitialSchema1732435200000 implements MigrationInterface {
  name = 'InitialSchema1732435200000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`)
    await q.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tw_app') THEN
          CREATE ROLE tw_app LOGIN;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
      END $$`)

    await q.query(`
      CREATE TABLE transactions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        node_id int NOT NULL,
        key_id text NOT NULL,
        key_type text NOT NULL CHECK (key_type IN ('ecdsa', 'schnorr')),
        state text NOT NULL CHECK (state IN ('pending','voting','approved','signing','signed','broadcast','confirmed','rejected','failed','expired')),
        to_address text NOT NULL,
        amount_sats bigint NOT NULL CHECK (amount_sats > 0),
        fee_rate numeric NULL,
        idempotency_key text NULL,
        unsigned_tx text NULL,
        signed_tx text NULL,
        txid text NULL,
        error text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`)
    await q.query(`CREATE UNIQUE INDEX transactions_node_idempotency ON transactions (node_id, idempotency_key) WHERE idempotency_key IS NOT NULL`)
    await q.query(`CREATE INDEX transactions_state ON transactions (state)`)

    await q.query(`
      CREATE TABLE voting_rounds (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        transaction_id uuid NOT NULL REFERENCES transactions(id),
        round int NOT NULL,
        proposer_node_id int NOT NULL,
        status text NOT NULL CHECK (status IN ('open','approved','rejected','expired')),
        approvals int NOT NULL DEFAULT 0,
        rejections int NOT NULL DEFAULT 0,
        closed_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (transaction_id, round)
      )`)

    await q.query(`
      CREATE TABLE votes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        voting_round_id uuid NOT NULL REFERENCES voting_rounds(id),
        voter_node_id int NOT NULL,
        approve boolean NOT NULL,
        reason text NULL,
        payload text NOT NULL,
        signature text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (voting_round_id, voter_node_id)
      )`)

    await q.query(`
      CREATE TABLE byzantine_violations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        node_id int NOT NULL,
        offender_node_id int NOT NULL,
        type text NOT NULL CHECK (type IN ('double_vote','invalid_signature','minority_attack','protocol_violation')),
        session_id text NULL,
        evidence jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`)
    await q.query(`CREATE INDEX byzantine_violations_offender ON byzantine_violations (offender_node_id)`)

    await q.query(`
      CREATE TABLE presignature_usage (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        node_id int NOT NULL,
        presignature_id text NOT NULL,
        key_id text NOT NULL,
        signer_set text NOT NULL,
        derivation_path text NOT NULL,
        transaction_id uuid NULL REFERENCES transactions(id),
        outcome text NOT NULL CHECK (outcome IN ('used','burned')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (node_id, presignature_id)
      )`)

    await q.query(`
      CREATE TABLE node_status (
        node_id int PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('starting','up','stopping','down')),
        api_url text NULL,
        quic_addr text NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`)

    await q.query(`
      CREATE TABLE audit_log (
        id bigint PRIMARY KEY CHECK (id > 0),
        node_id int NOT NULL,
        action text NOT NULL,
        actor text NOT NULL,
        details jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL UNIQUE
      )`)
    await q.query(`CREATE INDEX audit_log_node_action ON audit_log (node_id, action)`)
    await q.query(`
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`)
    await q.query(`
      CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`)
    await q.query(`
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`)

    await q.query(`REVOKE ALL ON audit_log FROM PUBLIC`)
    await q.query(`REVOKE ALL ON audit_log FROM tw_app`)
    await q.query(`GRANT SELECT, INSERT ON audit_log TO tw_app`)
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON transactions, voting_rounds, votes, byzantine_violations, presignature_usage, node_status TO tw_app`)
    await q.query(`REVOKE TRUNCATE ON transactions, voting_rounds, votes, byzantine_violations, presignature_usage, node_status FROM PUBLIC, tw_app`)
  }

  async down(q: QueryRunner): Promise<void> {
    // DROP TABLE does not fire the TRUNCATE/DELETE triggers. The role tw_app is cluster-wide
    // and may serve other databases, so it is left in place.
    await q.query(`DROP TABLE audit_log`)
    await q.query(`DROP FUNCTION audit_log_append_only()`)
    await q.query(`DROP TABLE node_status`)
    await q.query(`DROP TABLE presignature_usage`)
    await q.query(`DROP TABLE byzantine_violations`)
    await q.query(`DROP TABLE votes`)
    await q.query(`DROP TABLE voting_rounds`)
    await q.query(`DROP TABLE transactions`)
  }
}
