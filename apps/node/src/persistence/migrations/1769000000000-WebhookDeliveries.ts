import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * The webhook delivery log (issue 16 item 5): every attempt to POST an event to a webhook, by
 * the node that made it. `tw_app` may read and insert, never change or delete an attempt.
 */
export class WebhookDeliveries1769000000000 implements MigrationInterface {
  name = 'WebhookDeliveries1769000000000'

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        webhook_id text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        seq bigint NULL,
        attempt int NOT NULL CHECK (attempt >= 1),
        outcome text NOT NULL CHECK (outcome IN ('delivered','failed','gave_up','refused')),
        http_status int NULL,
        error text NULL,
        duration_ms int NOT NULL CHECK (duration_ms >= 0),
        node_id int NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`)
    await q.query(`CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC)`)
    await q.query(`REVOKE ALL ON webhook_deliveries FROM PUBLIC`)
    await q.query(`GRANT SELECT, INSERT ON webhook_deliveries TO tw_app`)
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries`)
  }
}
