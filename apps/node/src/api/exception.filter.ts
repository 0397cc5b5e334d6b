import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common'
import type { ErrorBody, ErrorCode } from '@tw/api'
import { DomainError } from '../common/errors'

interface JsonResponse {
  headersSent?: boolean
  status(code: number): JsonResponse
  json(body: unknown): unknown
}

const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  503: 'DEPENDENCY_UNAVAILABLE',
}

/**
 * The one place errors become HTTP: `{ error: { code, message, details } }` for everything.
 * Domain errors carry their code and status; framework errors (unknown route, malformed JSON,
 * oversized body) are mapped by status; anything else is a 500 whose detail stays in the log.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('Api')

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<JsonResponse>()
    const { status, body } = this.toBody(exception)
    if (res.headersSent) return
    res.status(status).json(body)
  }

  toBody(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof DomainError) {
      this.log[exception.logLevel](`${exception.code}: ${exception.message}`)
      return {
        status: exception.httpStatus,
        body: { error: { code: exception.code, message: exception.message, details: exception.details } },
      }
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus()
      const code = HTTP_CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST')
      const message = status === 404 ? 'no such route' : status === 400 ? badRequestMessage(exception) : exception.message
      return { status, body: { error: { code, message } } }
    }
    // body-parser errors reach here as plain errors with a status (express 5).
    const e = exception as { status?: number; statusCode?: number; type?: string; message?: string } | null
    const status = e?.status ?? e?.statusCode
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = HTTP_CODES[status] ?? 'BAD_REQUEST'
      const message = e?.type === 'entity.parse.failed' ? 'malformed JSON body' : (e?.message ?? 'bad request')
      return { status, body: { error: { code, message } } }
    }
    this.log.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception))
    return { status: HttpStatus.INTERNAL_SERVER_ERROR, body: { error: { code: 'INTERNAL', message: 'internal error' } } }
  }
}

function badRequestMessage(ex: HttpException): string {
  const cause = ex.cause as { type?: string } | undefined
  if (cause?.type === 'entity.parse.failed' || /JSON/i.test(ex.message)) return 'malformed JSON body'
  return ex.message
}
