import { z } from 'zod'

/** `POST /api/v1/keys` body. */
export const createKeySchema = z.strictObject(
  {
    protocol: z.enum(['ecdsa', 'schnorr'], { error: 'must be "ecdsa" or "schnorr"' }),
  },
  { error: 'body must be a JSON object' },
)

export const keyIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,160}$/, { error: 'not a key id' })
