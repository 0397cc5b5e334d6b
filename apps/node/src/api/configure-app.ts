import type { INestApplication } from '@nestjs/common'
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger'
import { ApiExceptionFilter } from './exception.filter'

interface RequestLike {
  headers: Record<string, string | undefined>
}
interface ResponseLike {
  status(code: number): { json(body: unknown): unknown }
}

/**
 * HTTP settings shared by `main.ts` and the tests: JSON body limit, the error filter, and
 * the OpenAPI document at `/api/docs` (UI) and `/api/docs-json`.
 */
export function configureApp(app: INestApplication, opts: { nodeId?: number } = {}): void {
  const filter = new ApiExceptionFilter()
  app.useGlobalFilters(filter)
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
  const doc = new DocumentBuilder()
    .setTitle('threshold-wallet node')
    .setDescription(
      `REST API of a threshold-wallet node${opts.nodeId ? ` (this is node ${opts.nodeId})` : ''}. Every error is \`{"error":{"code","message","details"}}\`.`,
    )
    .setVersion('0.1.0')
    .build()
  SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'api/docs-json' })
}
