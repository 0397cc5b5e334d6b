import type { INestApplication } from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger'
import helmet from 'helmet'
import type { ApiDenials } from '../auth/api-denials'
import { requestIdFrom, withRequestId } from '../common/request-context'
import { ApiExceptionFilter } from './exception.filter'
import { finishOpenApi, operationId } from './openapi-finish'

/** Default largest request body (`TW_MAX_BODY_BYTES`): 64 KiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024

interface RequestLike {
  headers: Record<string, string | undefined>
}
interface ResponseLike {
  statusCode?: number
  status(code: number): { json(body: unknown): unknown }
  on?(event: 'finish', listener: () => void): unknown
}

/**
 * HTTP settings shared by `main.ts` and the tests: security headers (helmet), JSON body limit
 * (413 `PAYLOAD_TOO_LARGE` beyond `maxBodyBytes`, counted in `mpc_api_denied_total`), the
 * error filter, and the OpenAPI document at `/api/docs` (UI) and `/api/docs-json`.
 */
export function configureApp(app: INestApplication, opts: { nodeId?: number; maxBodyBytes?: number; denials?: ApiDenials } = {}): void {
  const filter = new ApiExceptionFilter()
  app.useGlobalFilters(filter)
  // Every request runs under a request id (the client's X-Request-Id, or a fresh one), echoed
  // in the answer and carried by every log line of the work it starts (common/request-context).
  app.use((req: RequestLike, res: { setHeader(name: string, value: string): unknown }, next: () => void) => {
    const id = requestIdFrom(req.headers['x-request-id'])
    res.setHeader('X-Request-Id', id)
    withRequestId(id, next)
  })
  app.use(helmet())
  const denials = opts.denials
  if (denials) {
    app.use((req: RequestLike & { method?: string; path?: string; ip?: string }, res: ResponseLike, next: () => void) => {
      res.on?.('finish', () => {
        if (res.statusCode !== 413) return
        const path = req.path ?? ''
        const sensitive = req.method !== 'GET' && req.method !== 'HEAD' && path.startsWith('/api/v1')
        denials.record('payload_too_large', { method: req.method ?? '?', route: path.slice(0, 200), ip: req.ip, sensitive })
      })
      next()
    })
  }
  // The API speaks JSON only: a body in any other media type is refused, not half-parsed.
  app.use((req: RequestLike, res: ResponseLike, next: () => void) => {
    const type = req.headers['content-type']
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined
    if (hasBody && type !== undefined && !/^application\/(.+\+)?json\b/i.test(type)) {
      res.status(415).json({ error: { code: 'VALIDATION_FAILED', message: `unsupported content-type ${type}: send application/json` } })
      return
    }
    next()
  })
  ;(app as NestExpressApplication).useBodyParser('json', { limit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES })
  const doc = new DocumentBuilder()
    .setTitle('threshold-wallet node')
    .setDescription(`REST API of a threshold-wallet node${opts.nodeId ? ` (this is node ${opts.nodeId})` : ''}. Every error is \`{"error":{"code","message","details"}}\`.`)
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque', description: 'tw_... API token (roles: viewer, operator, admin); opaque: never parse it' })
    .build()
  SwaggerModule.setup('api/docs', app, () => finishOpenApi(SwaggerModule.createDocument(app, doc, { operationIdFactory: operationId })), { jsonDocumentUrl: 'api/docs-json' })
}
