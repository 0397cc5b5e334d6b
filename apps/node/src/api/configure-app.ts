import type { INestApplication } from '@nestjs/common'
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger'
import { ApiExceptionFilter } from './exception.filter'

/**
 * HTTP settings shared by `main.ts` and the tests: JSON body limit, the error filter, and
 * the OpenAPI document at `/api/docs` (UI) and `/api/docs-json`.
 */
export function configureApp(app: INestApplication, opts: { nodeId?: number } = {}): void {
  app.useGlobalFilters(new ApiExceptionFilter())
  const doc = new DocumentBuilder()
    .setTitle('threshold-wallet node')
    .setDescription(
      `REST API of a threshold-wallet node${opts.nodeId ? ` (this is node ${opts.nodeId})` : ''}. Every error is \`{"error":{"code","message","details"}}\`.`,
    )
    .setVersion('0.1.0')
    .build()
  SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'api/docs-json' })
}
