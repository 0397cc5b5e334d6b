import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common'
import {
  ApiBody,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger'
import {
  eventMatches,
  EventFilters,
  EventTypes,
  type CreatedWebhookDto,
  type CreateWebhookRequest,
  type EventFilter,
  type EventType,
  type WalletEventDto,
  type WebhookDeliveryDto,
  type WebhookDeliveryListDto,
  type WebhookDto,
  type WebhookListDto,
} from '@tw/api'
import { ErrorDoc } from '../api/openapi'
import { eventStreamQuerySchema, webhookCreateSchema, webhookDeliveriesQuerySchema, webhookIdSchema } from '../api/schemas'
import { ZodValidationPipe } from '../api/zod-validation.pipe'
import { RequireRole } from '../auth/roles'
import type { AuthenticatedRequest } from '../auth/token-throttler.guard'
import { TokenService } from '../auth/token.service'
import { DependencyUnavailableError, ValidationFailedError } from '../common/errors'
import { EventLogService } from './event-log.service'
import { WebhooksService } from './webhooks.service'

/** A comment line this often keeps proxies and clients from closing an idle stream. */
const KEEPALIVE_MS = 15_000
/** A node just started waits this long for its first read of the log before a stream is refused. */
const READY_WAIT_MS = 10_000
/** Bytes a stream may have waiting for a slow client before it is dropped (it resumes with Last-Event-ID). */
const MAX_BUFFERED = 8 * 1024 * 1024

class WalletEventDoc implements WalletEventDto {
  @ApiProperty({ example: 'tx.0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b.5', description: 'stable: the same event always has the same id' }) id!: string
  @ApiProperty({ description: 'order of the log (increasing, with gaps); a stream resumes after it (Last-Event-ID)' }) seq!: number
  @ApiProperty({ enum: EventTypes }) type!: EventType
  @ApiProperty({ description: 'when it happened (ISO 8601)' }) at!: string
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'transaction.*: the send (TransactionEventData); deposit.*: the payment (as GET /wallet/deposits lists it)',
  })
  data!: WalletEventDto['data']
}

class CreateWebhookRequestDoc implements CreateWebhookRequest {
  @ApiProperty({ example: 'https://erp.example.com/hooks/treasury', description: 'http(s); POSTed to, redirects not followed' }) url!: string
  @ApiPropertyOptional({ enum: EventFilters, isArray: true, example: ['deposit.*', 'transaction.confirmed', 'transaction.failed'], description: 'default: every event' })
  events?: EventFilter[]
  @ApiPropertyOptional({ example: 'ERP: credit deposits, close payouts' }) description?: string
}

class WebhookRetryDoc {
  @ApiProperty() eventId!: string
  @ApiProperty() attempts!: number
  @ApiProperty() nextAttemptAt!: string
}
class WebhookDeliveryStateDoc {
  @ApiProperty({ type: Number, nullable: true, description: 'seq of the last event delivered (or given up on)' }) lastSeq!: number | null
  @ApiProperty({ type: WebhookRetryDoc, nullable: true, description: 'the event waiting for its next attempt' }) retrying!: WebhookRetryDoc | null
}
class WebhookDoc implements WebhookDto {
  @ApiProperty({ format: 'uuid' }) id!: string
  @ApiProperty() url!: string
  @ApiProperty({ enum: EventFilters, isArray: true }) events!: EventFilter[]
  @ApiProperty({ type: String, nullable: true }) description!: string | null
  @ApiProperty() createdAt!: string
  @ApiProperty({ type: WebhookDeliveryStateDoc }) delivery!: WebhookDeliveryStateDoc
}
class CreatedWebhookDoc extends WebhookDoc implements CreatedWebhookDto {
  @ApiProperty({ description: 'whsec_<base64url>: signs every delivery (TW-Signature); shown here once, never again' }) secret!: string
}
class WebhookListDoc implements WebhookListDto {
  @ApiProperty({ type: [WebhookDoc] }) webhooks!: WebhookDoc[]
}
class WebhookDeliveryDoc implements WebhookDeliveryDto {
  @ApiProperty() webhookId!: string
  @ApiProperty() eventId!: string
  @ApiProperty() eventType!: string
  @ApiProperty({ type: Number, nullable: true }) seq!: number | null
  @ApiProperty() attempt!: number
  @ApiProperty({ enum: ['delivered', 'failed', 'gave_up', 'refused'], description: 'failed: retried later; refused: the event did not check out, never sent' })
  outcome!: WebhookDeliveryDto['outcome']
  @ApiProperty({ type: Number, nullable: true }) httpStatus!: number | null
  @ApiProperty({ type: String, nullable: true }) error!: string | null
  @ApiProperty() durationMs!: number
  @ApiProperty({ description: 'the node that made the attempt' }) nodeId!: number
  @ApiProperty() at!: string
}
class WebhookDeliveryListDoc implements WebhookDeliveryListDto {
  @ApiProperty({ type: [WebhookDeliveryDoc] }) deliveries!: WebhookDeliveryDoc[]
}

/** The parts of Express's response a stream uses. */
interface StreamResponse {
  status(code: number): unknown
  setHeader(name: string, value: string): unknown
  flushHeaders(): void
  write(chunk: string): boolean
  end(): void
  destroy(): void
  readonly destroyed: boolean
  readonly writableLength: number
  on(event: 'close' | 'drain', f: () => void): unknown
  off(event: 'close' | 'drain', f: () => void): unknown
}

const actorOf = (req: AuthenticatedRequest) => `token:${req.twAuth?.tokenId ?? 'unknown'}`

/** One event in the text/event-stream format. */
export const sseFrame = (e: WalletEventDto) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`

@ApiTags('events')
@ApiExtraModels(WalletEventDoc)
@Controller('api/v1/events')
export class EventsController {
  constructor(
    private readonly events: EventLogService,
    private readonly tokens: TokenService,
  ) {}

  @Get()
  @ApiOperation({
    summary:
      'The event stream (Server-Sent Events): transaction.<state> as sends move, deposit.pending / deposit.confirmed; each frame is `id: <seq>`, `event: <type>`, `data: <WalletEvent JSON>`. Without since, only new events; since=0 replays the kept log (3 days) first; Last-Event-ID resumes',
  })
  @ApiQuery({ name: 'types', required: false, type: String, description: `comma-separated filters: ${EventFilters.join(', ')}` })
  @ApiQuery({ name: 'since', required: false, type: Number, description: 'replay the kept events after this seq first (0: all of them)' })
  @ApiQuery({ name: 'follow', required: false, enum: ['true', 'false'], description: 'false: send the replay and close (default true: stay open)' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'the seq of the last event received: resume after it (wins over since)' })
  @ApiOkResponse({
    description: 'text/event-stream: one frame per WalletEvent (`id: <seq>`, `event: <type>`, `data: <JSON>`), `: keepalive` comments every 15 s',
    content: { 'text/event-stream': { schema: { $ref: getSchemaPath(WalletEventDoc) } } },
  })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (types, since, follow or Last-Event-ID)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'DEPENDENCY_UNAVAILABLE: the node has not read the event log yet (just started, etcd unreachable)' })
  async stream(
    @Query(new ZodValidationPipe(eventStreamQuerySchema)) q: { types?: EventFilter[]; since?: number; follow: boolean },
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() req: AuthenticatedRequest,
    @Res() res: StreamResponse,
  ): Promise<void> {
    if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId.trim())) throw new ValidationFailedError('Last-Event-ID must be an event seq')
    // A node that has not read the log yet (just started) would replay nothing: wait a little, else 503.
    if (!(await this.events.whenReady(READY_WAIT_MS))) throw new DependencyUnavailableError('the event log is not read yet (etcd unreachable?); try again', { dependency: 'etcd' })
    const filters = q.types ?? []
    let last = lastEventId !== undefined ? Number(lastEventId.trim()) : (q.since ?? (q.follow ? this.events.lastSeq : 0))
    res.status(200)
    res.setHeader('content-type', 'text/event-stream; charset=utf-8')
    res.setHeader('cache-control', 'no-cache, no-transform')
    res.setHeader('x-accel-buffering', 'no')
    res.flushHeaders()
    // An id-only frame: a client that reconnects before any event resumes from here.
    res.write(`retry: 3000\nid: ${last}\n\n`)
    let closed = false
    let unsubscribe = () => undefined as unknown
    // The token this stream was opened with is checked on every event, not only at the start:
    // revoked (here or on any node), the stream ends; a reconnect gets 401.
    const tokenId = req.twAuth?.tokenId
    const unwatchToken = tokenId
      ? this.tokens.onRevoked((id) => {
          if (id !== tokenId || closed) return
          res.write(': token revoked\n\n')
          res.end()
          close()
        })
      : () => undefined
    const close = () => {
      closed = true
      unsubscribe()
      unwatchToken()
    }
    res.on('close', close)
    let queue = Promise.resolve()
    // Frames go out one at a time in seq order, each deposit once this node checked it; a
    // client slower than the events is waited for (drain), and dropped past MAX_BUFFERED.
    const emit = (e: WalletEventDto) => {
      queue = queue.then(async () => {
        if (closed || e.seq <= last) return
        if (!(await this.events.checkOrFalse(e))) return
        last = e.seq
        if (closed) return
        if (res.write(sseFrame(e))) return
        if (res.writableLength > MAX_BUFFERED) return res.destroy()
        await new Promise<void>((done) => {
          const go = () => {
            res.off('drain', go)
            res.off('close', go)
            done()
          }
          res.on('drain', go)
          res.on('close', go)
        })
      })
    }
    for (const e of this.events.since(last, filters)) emit(e)
    // Subscribed in the same tick as the replay was read: nothing falls in between.
    if (q.follow) unsubscribe = this.events.subscribe((e) => (eventMatches(e.type, filters) ? emit(e) : undefined))
    if (res.destroyed) close() // the client went away before the listener was in place
    if (!q.follow) {
      await queue
      if (!closed) res.end()
      return
    }
    if (closed) return
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)
    res.on('close', () => clearInterval(keepalive))
  }
}

@ApiTags('webhooks')
@RequireRole('admin')
@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Subscribe a URL to events (admin): each event is POSTed as JSON, signed with the secret (TW-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">), retried with backoff until a 2xx; the secret is in this answer only',
  })
  @ApiBody({ type: CreateWebhookRequestDoc })
  @ApiCreatedResponse({ type: CreatedWebhookDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (url not http(s) or at a private address without TW_WEBHOOK_ALLOW_PRIVATE, unknown event filter)' })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'CONFLICT: 20 webhooks already' })
  create(@Body(new ZodValidationPipe(webhookCreateSchema)) body: CreateWebhookRequest, @Req() req: AuthenticatedRequest): Promise<CreatedWebhookDto> {
    return this.webhooks.create(body, actorOf(req))
  }

  @Get()
  @ApiOperation({ summary: 'Every webhook with its delivery progress (never its secret)' })
  @ApiOkResponse({ type: WebhookListDoc })
  async list(): Promise<WebhookListDto> {
    return { webhooks: await this.webhooks.list() }
  }

  @Get(':id')
  @ApiOperation({ summary: 'One webhook with its delivery progress' })
  @ApiOkResponse({ type: WebhookDoc })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND' })
  get(@Param('id', new ZodValidationPipe(webhookIdSchema)) id: string): Promise<WebhookDto> {
    return this.webhooks.get(id)
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Remove a webhook: nothing more is sent to it' })
  @ApiOkResponse({ type: WebhookDoc, description: 'the webhook removed' })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND' })
  remove(@Param('id', new ZodValidationPipe(webhookIdSchema)) id: string, @Req() req: AuthenticatedRequest): Promise<WebhookDto> {
    return this.webhooks.remove(id, actorOf(req))
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: "A webhook's delivery log, newest first: every attempt, its HTTP status or error, and the node that made it" })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000 (default 50)' })
  @ApiOkResponse({ type: WebhookDeliveryListDoc })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND' })
  async deliveries(
    @Param('id', new ZodValidationPipe(webhookIdSchema)) id: string,
    @Query(new ZodValidationPipe(webhookDeliveriesQuerySchema)) q: { limit: number },
  ): Promise<WebhookDeliveryListDto> {
    return { deliveries: await this.webhooks.deliveries(id, q.limit) }
  }

  @Post(':id/test')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send a webhook.ping to the webhook now, from this node (once, not retried), and say what its URL answered' })
  @ApiOkResponse({ type: WebhookDeliveryDoc })
  @ApiResponse({ status: 404, type: ErrorDoc, description: 'NOT_FOUND' })
  test(@Param('id', new ZodValidationPipe(webhookIdSchema)) id: string): Promise<WebhookDeliveryDto> {
    return this.webhooks.test(id)
  }
}
