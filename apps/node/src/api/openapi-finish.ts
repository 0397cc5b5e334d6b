import type { OpenAPIObject } from '@nestjs/swagger'

/** Properties that are whole numbers however the DTO classes spell them (`number` in TypeScript). */
const INTEGER_PROPERTY =
  /Sats$|^(vout|index|vsize|confirmations|tipHeight|blockHeight|txCount|checked|issued|addressesScanned|nodeId|clusterSize|threshold|nodesUp|attempt|count|utxos|covered|generating|used|burned)$/

/** What any `/api/v1` route may answer besides its own statuses (auth guard, throttler, body limit). */
const COMMON_ERRORS: Record<string, { description: string; bodyOnly?: boolean }> = {
  '401': { description: 'UNAUTHORIZED: no bearer token, or an unknown, revoked or expired one' },
  '403': { description: "FORBIDDEN: the token's role is below the route's (viewer < operator < admin)" },
  '413': { description: 'PAYLOAD_TOO_LARGE: the body is over TW_MAX_BODY_BYTES', bodyOnly: true },
  '429': { description: 'RATE_LIMITED: too many requests for this token; retry after Retry-After seconds' },
}

/** `TransactionsController` + `quote` → `transactionsQuote`: stable, readable operation ids. */
export function operationId(controllerKey: string, methodKey: string): string {
  const base = controllerKey.replace(/Controller$/, '')
  return base.charAt(0).toLowerCase() + base.slice(1) + methodKey.charAt(0).toUpperCase() + methodKey.slice(1)
}

/**
 * The generated OpenAPI document, completed with what the decorators cannot say once per
 * route: the auth, throttling and body-limit errors every `/api/v1` route can answer (each
 * with the error shape), and whole-number amounts and counts as `integer`.
 */
export function finishOpenApi(doc: OpenAPIObject): OpenAPIObject {
  const errorRef = doc.components?.schemas?.ErrorDoc ? { $ref: '#/components/schemas/ErrorDoc' } : undefined
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith('/api/v1')) continue
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method]
      if (!op) continue
      for (const [status, e] of Object.entries(COMMON_ERRORS)) {
        if (e.bodyOnly && method === 'get') continue
        op.responses[status] ??= { description: e.description, ...(errorRef ? { content: { 'application/json': { schema: errorRef } } } : {}) }
      }
    }
  }
  for (const schema of Object.values(doc.components?.schemas ?? {})) {
    const props = (schema as { properties?: Record<string, { type?: string }> }).properties ?? {}
    for (const [name, p] of Object.entries(props)) if (p.type === 'number' && INTEGER_PROPERTY.test(name)) p.type = 'integer'
  }
  return doc
}
