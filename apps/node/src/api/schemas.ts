import { DrillBehaviours, EventFilters, MAX_RECIPIENTS, MAX_SWEEP_INPUTS, UtxoStatuses, type EventFilter } from '@tw/api'
import { z } from 'zod'
import { decodeCursor } from '../wallet/history-cursor'

/** `limit` of a paged list: an integer 1..`max`, `dflt` when absent. */
const pageLimit = (max: number, dflt: number) =>
  z.coerce
    .number({ error: 'limit must be an integer' })
    .int({ error: 'limit must be an integer' })
    .min(1, { error: 'limit must be >= 1' })
    .max(max, { error: `limit must be <= ${max}` })
    .default(dflt)

/** `type` of a send body or a wallet list query. */
const walletTypeField = z.enum(['segwit', 'taproot'], { error: 'type must be "segwit" or "taproot"' }).optional()

/** `POST /api/v1/keys` body. */
export const createKeySchema = z.strictObject(
  {
    protocol: z.enum(['ecdsa', 'schnorr'], { error: 'must be "ecdsa" or "schnorr"' }),
  },
  { error: 'body must be a JSON object' },
)

/** `POST /api/v1/cluster/recover` body (may be empty). */
export const clusterRecoverSchema = z.strictObject(
  {
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).optional(),
  },
  { error: 'body must be a JSON object' },
)

export const keyIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,160}$/, { error: 'not a key id' })

/** A caller's own reference of a send (`externalId`): 1-200 printable ASCII characters. */
const externalIdField = z
  .string({ error: 'externalId must be a string' })
  .regex(/^[\x21-\x7e]{1,200}$/, { error: 'externalId must be 1-200 printable ASCII characters without spaces' })
  .optional()

const addressField = (what: string) =>
  z
    .string({ error: `${what} must be an address string` })
    .min(1, { error: `${what} must be an address string` })
    .max(200)

/**
 * `POST /api/v1/transactions` body. Only the shape is checked here; amounts, fee rates and
 * addresses are checked by the wallet, which answers with their own stable codes
 * (INVALID_AMOUNT, FEE_RATE_OUT_OF_BOUNDS, INVALID_ADDRESS, WRONG_NETWORK...).
 */
export const sendSchema = z
  .strictObject(
    {
      to: addressField('to').optional(),
      amountSats: z.unknown().optional(),
      recipients: z
        .array(
          z.strictObject(
            { to: addressField('recipients[].to'), amountSats: z.unknown().refine((v) => v !== undefined, { error: 'recipients[].amountSats is required' }) },
            { error: 'each recipient must be an object {to, amountSats}' },
          ),
          { error: `recipients must be an array of 1..${MAX_RECIPIENTS} {to, amountSats}` },
        )
        .min(1, { error: `recipients must be an array of 1..${MAX_RECIPIENTS} {to, amountSats}` })
        .max(MAX_RECIPIENTS, { error: `recipients must be an array of 1..${MAX_RECIPIENTS} {to, amountSats}` })
        .optional(),
      subtractFeeFromAmount: z.boolean({ error: 'subtractFeeFromAmount must be true or false' }).optional(),
      inputs: z
        .array(
          z.strictObject(
            {
              txid: z.string().regex(/^[0-9a-fA-F]{64}$/, { error: 'inputs[].txid must be 64 hex digits' }),
              vout: z
                .number({ error: 'inputs[].vout must be an integer >= 0' })
                .int({ error: 'inputs[].vout must be an integer >= 0' })
                .min(0, { error: 'inputs[].vout must be an integer >= 0' }),
            },
            { error: 'each input must be an object {txid, vout}' },
          ),
          { error: `inputs must be an array of 1..${MAX_SWEEP_INPUTS} {txid, vout}` },
        )
        .min(1, { error: `inputs must be an array of 1..${MAX_SWEEP_INPUTS} {txid, vout}` })
        .max(MAX_SWEEP_INPUTS, { error: `inputs must be an array of 1..${MAX_SWEEP_INPUTS} {txid, vout}` })
        .optional(),
      consolidate: z.literal(true, { error: 'consolidate must be true (or absent)' }).optional(),
      memo: z.string({ error: 'memo must be a string' }).min(1, { error: 'memo must be 1-500 characters' }).max(500, { error: 'memo must be 1-500 characters' }).optional(),
      externalId: externalIdField,
      feeRate: z.unknown().optional(),
      type: walletTypeField,
      targetBlocks: z
        .number({ error: 'targetBlocks must be an integer number of blocks (1..1008)' })
        .int({ error: 'targetBlocks must be an integer number of blocks (1..1008)' })
        .min(1, { error: 'targetBlocks must be an integer number of blocks (1..1008)' })
        .max(1008, { error: 'targetBlocks must be an integer number of blocks (1..1008)' })
        .optional(),
      maxFeeRate: z.unknown().optional(),
    },
    { error: 'body must be a JSON object' },
  )
  .refine((b) => b.feeRate === undefined || b.targetBlocks === undefined, { error: 'give feeRate or targetBlocks, not both' })
  .refine((b) => b.consolidate === undefined || (b.to === undefined && b.amountSats === undefined && b.recipients === undefined && b.subtractFeeFromAmount === undefined), {
    error: 'a consolidation pays nothing out: no to, amountSats, recipients or subtractFeeFromAmount',
  })
  .refine((b) => b.consolidate !== undefined || (b.recipients === undefined) !== (b.to === undefined && b.amountSats === undefined), {
    error: 'give either to and amountSats (one payment) or recipients (a batch), not both',
  })
  .refine((b) => b.consolidate !== undefined || b.recipients !== undefined || (b.to !== undefined && b.amountSats !== undefined), {
    error: 'to and amountSats are required (or recipients, or consolidate)',
  })
  .refine((b) => b.amountSats !== 'max' || b.subtractFeeFromAmount !== false, { error: '"max" always takes the fee out of the payment' })

/** `Idempotency-Key` header: printable, at most 200 characters. */
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, { error: 'Idempotency-Key must be 1-200 printable ASCII characters without spaces' })
  .optional()

export const transactionIdSchema = z.uuid({ error: 'not a transaction id' })

/** `GET /api/v1/transactions/:id`: the transaction id, or its Bitcoin txid (64 hex digits). */
export const transactionRefSchema = z.union([z.uuid(), z.string().regex(/^[0-9a-fA-F]{64}$/)], { error: 'not a transaction id or a txid (64 hex digits)' })

const replaceFeeRate = z
  .number({ error: 'feeRate must be a number of sat/vB' })
  .positive({ error: 'feeRate must be a number of sat/vB' })
  .refine((n) => Number.isFinite(n), { error: 'feeRate must be a number of sat/vB' })

/** `POST /api/v1/transactions/:id/bump` body: the new fee rate. */
export const bumpSchema = z.strictObject({ feeRate: replaceFeeRate }, { error: 'body must be a JSON object {feeRate}' })

/** `POST /api/v1/transactions/:id/cancel` body: the fee rate, optional. */
export const cancelSchema = z.strictObject({ feeRate: replaceFeeRate.optional() }, { error: 'body must be a JSON object {feeRate?}' })

/** `POST /api/v1/transactions/:id/abandon` body: the reason, for the audit log. */
export const abandonSchema = z.strictObject(
  {
    reason: z
      .string({ error: 'reason must be a string' })
      .trim()
      .min(1, { error: 'reason is required (1-500 characters): say why the coins may be released' })
      .max(500, { error: 'reason must be at most 500 characters' }),
  },
  { error: 'body must be a JSON object with a reason' },
)

const TX_STATES = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed', 'rejected', 'failed', 'expired'] as const

/** `GET /api/v1/transactions` query: filters and the page (cursor: the `nextCursor` of the page before). */
export const transactionListQuerySchema = z.strictObject(
  {
    state: z.enum(TX_STATES, { error: `state must be one of ${TX_STATES.join(', ')}` }).optional(),
    type: walletTypeField,
    since: z.iso.datetime({ offset: true, error: 'since must be an ISO 8601 time, e.g. 2025-01-31T00:00:00Z' }).optional(),
    externalId: externalIdField,
    limit: pageLimit(500, 50),
    cursor: z
      .string()
      .max(300, { error: 'cursor is not one this node handed out' })
      .refine(
        (c) => {
          try {
            decodeCursor(c)
            return true
          } catch {
            return false
          }
        },
        { error: 'cursor is not one this node handed out' },
      )
      .optional(),
  },
  { error: 'query must be key=value pairs' },
)

export const addressRequestSchema = z.preprocess(
  (v) => v ?? {},
  z.strictObject({
    type: z.enum(['segwit', 'taproot'], { error: 'type must be "segwit" or "taproot"' }).default('segwit'),
    change: z.boolean({ error: 'change must be true or false' }).default(false),
    label: z
      .string({ error: 'label must be a string' })
      .trim()
      .min(1, { error: 'label must be 1-100 characters' })
      .max(100, { error: 'label must be 1-100 characters' })
      .optional(),
  }),
)

const queryBoolean = (name: string) => z.enum(['true', 'false'], { error: `${name} must be true or false` }).transform((v) => v === 'true')

/** `GET /api/v1/wallet/addresses` query. */
export const addressListQuerySchema = z.strictObject(
  {
    type: walletTypeField,
    change: queryBoolean('change').optional(),
    used: queryBoolean('used').optional(),
    limit: pageLimit(1000, 100),
  },
  { error: 'query must be key=value pairs' },
)

/** `GET /api/v1/wallet/utxos` query. */
export const utxoListQuerySchema = z.strictObject(
  {
    type: walletTypeField,
    status: z.enum(UtxoStatuses, { error: `status must be one of ${UtxoStatuses.join(', ')}` }).optional(),
  },
  { error: 'query must be key=value pairs' },
)

/** `GET /api/v1/wallet/deposits` query. */
export const depositListQuerySchema = z.strictObject(
  {
    type: walletTypeField,
    limit: pageLimit(1000, 100),
  },
  { error: 'query must be key=value pairs' },
)

/** `POST /api/v1/presignatures` body. */
export const presignatureRequestSchema = z.strictObject(
  {
    count: z
      .number({ error: 'count must be an integer' })
      .int({ error: 'count must be an integer' })
      .min(1, { error: 'count must be >= 1' })
      .max(100, { error: 'count must be <= 100' }),
    signers: z
      .array(z.number().int().min(1).max(255), { error: 'signers must be an array of node ids' })
      .refine((a) => new Set(a).size === a.length, { error: 'signers must be distinct' })
      .optional(),
  },
  { error: 'body must be a JSON object' },
)

export const nodeIdParamSchema = z.coerce
  .number({ error: 'node id must be an integer' })
  .int({ error: 'node id must be an integer' })
  .min(1, { error: 'node id must be >= 1' })
  .max(255, { error: 'node id must be <= 255' })

/** `POST /api/v1/drill` body. */
export const drillSchema = z.strictObject(
  { behaviours: z.array(z.enum(DrillBehaviours, { error: `behaviours: each one of ${DrillBehaviours.join(', ')}` })).max(7) },
  { error: 'body must be a JSON object' },
)

// ------------------------------------------------------------------ events and webhooks

const eventFilterField = z.enum(EventFilters as [EventFilter, ...EventFilter[]], { error: `an event filter must be one of ${EventFilters.join(', ')}` })

/** `POST /api/v1/webhooks` body. */
export const webhookCreateSchema = z.strictObject(
  {
    url: z
      .string({ error: 'url must be a string' })
      .max(2048, { error: 'url must be at most 2048 characters' })
      .refine(
        (u) => {
          try {
            const p = new URL(u)
            return (p.protocol === 'http:' || p.protocol === 'https:') && p.hostname !== ''
          } catch {
            return false
          }
        },
        { error: 'url must be an http(s) URL' },
      )
      .refine(
        (u) => {
          try {
            const p = new URL(u)
            return p.username === '' && p.password === ''
          } catch {
            return true
          }
        },
        { error: 'url must not carry a user name or password (deliveries are signed with the webhook secret: check TW-Signature instead)' },
      ),
    events: z
      .array(eventFilterField, { error: 'events must be an array of event filters' })
      .min(1, { error: 'events must name at least one filter (or leave it out for every event)' })
      .max(20, { error: 'events takes at most 20 filters' })
      .refine((l) => new Set(l).size === l.length, { error: 'events names a filter twice' })
      .optional(),
    description: z.string({ error: 'description must be a string' }).max(200, { error: 'description must be at most 200 characters' }).optional(),
  },
  { error: 'body must be a JSON object' },
)

export const webhookIdSchema = z.uuid({ error: 'not a webhook id' })

/** `GET /api/v1/webhooks/{id}/deliveries` query. */
export const webhookDeliveriesQuerySchema = z.strictObject({ limit: pageLimit(1000, 50) }, { error: 'query must be key=value pairs' })

/** `GET /api/v1/events` query. */
export const eventStreamQuerySchema = z.strictObject(
  {
    types: z
      .string({ error: 'types must be a comma-separated list' })
      .transform((s) =>
        s
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      )
      .pipe(z.array(eventFilterField))
      .optional(),
    since: z.coerce.number({ error: 'since must be an event seq' }).int({ error: 'since must be an event seq' }).min(0, { error: 'since must be >= 0' }).optional(),
    follow: z
      .enum(['true', 'false'], { error: 'follow must be true or false' })
      .transform((v) => v === 'true')
      .default(true),
  },
  { error: 'query must be key=value pairs' },
)
