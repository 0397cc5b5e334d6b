import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common'
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger'
import type {
  AbandonDto,
  AddressListDto,
  AddressListQuery,
  DepositListDto,
  DepositListQuery,
  AbandonRequest,
  ReplaceRequest,
  AddressDto,
  BalanceDto,
  DescriptorsDto,
  PresignatureJobsDto,
  PresignatureRequest,
  PresignatureStatusDto,
  QuoteDto,
  SendRequest,
  TransactionDto,
  TransactionListDto,
  UtxoListDto,
  UtxoListQuery,
  WalletType,
} from '@tw/api'
import { UtxoStatuses } from '@tw/api'
import { RequireRole } from '../auth/roles'
import type { AuthenticatedRequest } from '../auth/token-throttler.guard'
import { CoinsService } from '../wallet/coins.service'
import { PresignatureService } from '../wallet/presignature.service'
import { SendService } from '../wallet/send.service'
import { ReplaceService } from '../wallet/replace.service'
import { TxAbandonService } from '../wallet/tx-abandon.service'
import { WalletService } from '../wallet/wallet.service'
import {
  AbandonDoc,
  AbandonRequestDoc,
  BumpRequestDoc,
  CancelRequestDoc,
  AddressDoc,
  AddressListDoc,
  AddressRequestDoc,
  BalanceDoc,
  DepositListDoc,
  DescriptorsDoc,
  ErrorDoc,
  PresignatureJobsDoc,
  PresignatureRequestDoc,
  PresignatureStatusDoc,
  SendRequestDoc,
  TransactionDoc,
  QuoteDoc,
  TransactionListDoc,
  UtxoListDoc,
} from './openapi'
import {
  abandonSchema,
  bumpSchema,
  cancelSchema,
  addressListQuerySchema,
  addressRequestSchema,
  depositListQuerySchema,
  idempotencyKeySchema,
  presignatureRequestSchema,
  sendSchema,
  transactionIdSchema,
  transactionListQuerySchema,
  transactionRefSchema,
  utxoListQuerySchema,
} from './schemas'
import type { HistoryQuery } from '../wallet/tx-store'
import { ZodValidationPipe } from './zod-validation.pipe'

interface StatusSettable {
  status(code: number): unknown
}

/** Send bodies shown in the API reference: one payment, a batch payout, a sweep. */
const SEND_EXAMPLES = {
  payment: { summary: 'one payment', value: { to: 'bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf3zd4', amountSats: 50000, type: 'segwit' } },
  batch: {
    summary: 'a batch payout',
    value: {
      recipients: [
        { to: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', amountSats: 25000 },
        { to: 'bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf3zd4', amountSats: 40000 },
      ],
      memo: 'March payroll',
      externalId: 'payroll-2026-03',
      targetBlocks: 6,
    },
  },
  sweep: { summary: 'every spendable coin to one address', value: { to: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', amountSats: 'max', type: 'taproot' } },
}

@ApiTags('wallet')
@Controller('api/v1/wallet')
export class WalletController {
  constructor(
    private readonly wallet: WalletService,
    private readonly coins: CoinsService,
  ) {}

  /** A POST: it uses up an address index (a viewer token cannot burn them). */
  @Post('address')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: "A fresh receive (or change) address derived from this node's key share; never handed out twice" })
  @ApiBody({ type: AddressRequestDoc, required: false })
  @ApiOkResponse({ type: AddressDoc })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'NO_ACTIVE_KEY, GAP_LIMIT_REACHED (the last TW_ADDRESS_GAP_LIMIT receive addresses are all unused)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: "KEY_RECORD_MISMATCH: the key record in etcd does not match this node's share" })
  address(@Body(new ZodValidationPipe(addressRequestSchema)) q: { type: WalletType; change: boolean; label?: string }): Promise<AddressDto> {
    return this.wallet.nextAddress(q.type, q.change, q.label ?? null)
  }

  @Get('addresses')
  @ApiOperation({
    summary: 'Addresses handed out (receive, or change with change=true), newest first per wallet type, with their labels and whether the chain has paid them',
  })
  @ApiQuery({ name: 'type', required: false, enum: ['segwit', 'taproot'] })
  @ApiQuery({ name: 'change', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'used', required: false, enum: ['true', 'false'], description: 'true: only used; false: only unused' })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000 (default 100)' })
  @ApiOkResponse({ type: AddressListDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (a bad type, change, used or limit)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE, KEY_RECORD_MISMATCH' })
  addresses(@Query(new ZodValidationPipe(addressListQuerySchema)) q: AddressListQuery & { limit: number }): Promise<AddressListDto> {
    return this.wallet.listAddresses(q)
  }

  @Get('balance')
  @ApiOperation({ summary: 'Confirmed, unconfirmed and reserved balance per wallet type' })
  @ApiOkResponse({ type: BalanceDoc })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE' })
  balance(): Promise<BalanceDto> {
    return this.wallet.balance()
  }

  @Get('utxos')
  @ApiOperation({ summary: "The wallet's coins: spendable, reserved by a send in flight (and which), or unconfirmed; SegWit coins say whether a presignature covers them" })
  @ApiQuery({ name: 'type', required: false, enum: ['segwit', 'taproot'] })
  @ApiQuery({ name: 'status', required: false, enum: UtxoStatuses })
  @ApiOkResponse({ type: UtxoListDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (a bad type or status)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE, KEY_RECORD_MISMATCH' })
  utxos(@Query(new ZodValidationPipe(utxoListQuerySchema)) q: UtxoListQuery): Promise<UtxoListDto> {
    return this.coins.list(q)
  }

  @Get('deposits')
  @ApiOperation({
    summary: "Payments to the wallet's receive addresses, from the chain's history of each address handed out: unconfirmed first, then newest first",
  })
  @ApiQuery({ name: 'type', required: false, enum: ['segwit', 'taproot'] })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000 (default 100)' })
  @ApiOkResponse({ type: DepositListDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (a bad type or limit)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE, KEY_RECORD_MISMATCH' })
  deposits(@Query(new ZodValidationPipe(depositListQuerySchema)) q: DepositListQuery & { limit: number }): Promise<DepositListDto> {
    return this.coins.deposits(q)
  }

  @Get('descriptors')
  @ApiOperation({ summary: 'Output descriptors (with checksums) for watch-only wallets' })
  @ApiOkResponse({ type: DescriptorsDoc })
  descriptors(): Promise<DescriptorsDto> {
    return this.wallet.descriptors()
  }
}

@ApiTags('transactions')
@Controller('api/v1/transactions')
export class TransactionsController {
  constructor(
    private readonly send: SendService,
    private readonly abandoner: TxAbandonService,
    private readonly replacer: ReplaceService,
  ) {}

  @Post()
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Send: build, reserve coins and propose a spend for voting; poll GET /api/v1/transactions/{id}' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'the same key and body give the same transaction; another body gives 409' })
  @ApiBody({ type: SendRequestDoc, examples: SEND_EXAMPLES })
  @ApiResponse({ status: 202, type: TransactionDoc, description: 'proposed: coins reserved, voting started' })
  @ApiOkResponse({ type: TransactionDoc, description: 'the same Idempotency-Key and body again: the one transaction it made' })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'INVALID_ADDRESS, WRONG_NETWORK, INVALID_AMOUNT, DUST_OUTPUT, FEE_RATE_OUT_OF_BOUNDS' })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'IDEMPOTENCY_KEY_REUSED, NO_ACTIVE_KEY' })
  @ApiResponse({ status: 422, type: ErrorDoc, description: 'INSUFFICIENT_FUNDS, FEE_TOO_HIGH, POLICY_VIOLATION' })
  async create(
    @Body(new ZodValidationPipe(sendSchema)) body: SendRequest,
    @Headers('idempotency-key') rawIdempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: StatusSettable,
  ): Promise<TransactionDto> {
    const idempotencyKey = new ZodValidationPipe(idempotencyKeySchema).transform(rawIdempotencyKey) as string | undefined
    const { tx, created } = await this.send.create(body, idempotencyKey ?? null)
    res.status(created ? 202 : 200)
    return tx
  }

  /** Reserves nothing, but reads like a send: the same role. */
  @Post('quote')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Dry run of a send: the coins, fee, size and change it would have now; nothing is reserved and no address index is used' })
  @ApiBody({ type: SendRequestDoc, examples: SEND_EXAMPLES })
  @ApiOkResponse({ type: QuoteDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'INVALID_ADDRESS, WRONG_NETWORK, INVALID_AMOUNT, DUST_OUTPUT, FEE_RATE_OUT_OF_BOUNDS' })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'NO_ACTIVE_KEY' })
  @ApiResponse({ status: 422, type: ErrorDoc, description: 'INSUFFICIENT_FUNDS, FEE_TOO_HIGH, POLICY_VIOLATION' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE, KEY_RECORD_MISMATCH' })
  quote(@Body(new ZodValidationPipe(sendSchema)) body: SendRequest): Promise<QuoteDto> {
    return this.send.quote(body)
  }

  @Get()
  @ApiOperation({ summary: "This node's transaction history (its PostgreSQL mirror), newest first, one page at a time" })
  @ApiQuery({ name: 'state', required: false, description: 'only transactions in this state' })
  @ApiQuery({ name: 'type', required: false, enum: ['segwit', 'taproot'] })
  @ApiQuery({ name: 'since', required: false, description: 'ISO time: created at or after it' })
  @ApiQuery({ name: 'externalId', required: false, description: 'only the transactions sent with this externalId' })
  @ApiQuery({ name: 'limit', required: false, description: '1..500 (default 50)' })
  @ApiQuery({ name: 'cursor', required: false, description: 'the nextCursor of the page before' })
  @ApiOkResponse({ type: TransactionListDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (a bad filter, limit or cursor)' })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'DEPENDENCY_UNAVAILABLE: the database is down' })
  list(@Query(new ZodValidationPipe(transactionListQuerySchema)) q: HistoryQuery): Promise<TransactionListDto> {
    return this.send.list(q)
  }

  @Get(':id')
  @ApiOperation({ summary: 'One transaction with its state history and every vote; by its id or by its Bitcoin txid' })
  @ApiParam({ name: 'id', description: 'the transaction id, or its Bitcoin txid (64 hex digits)' })
  @ApiOkResponse({ type: TransactionDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED: neither a transaction id nor a txid' })
  @ApiResponse({ status: 404, type: ErrorDoc })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'DEPENDENCY_UNAVAILABLE: a txid lookup needs the database, which is down' })
  get(@Param('id', new ZodValidationPipe(transactionRefSchema)) id: string): Promise<TransactionDto> {
    return this.send.get(id)
  }

  @Post(':id/bump')
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({
    summary:
      'Fee bump (BIP125): a replacement of a broadcast, unconfirmed send paying the same payments at a higher fee rate, the extra fee out of its change; voted and signed like a send; the replaced send ends failed REPLACED',
  })
  @ApiParam({ name: 'id', description: 'the transaction to replace' })
  @ApiBody({ type: BumpRequestDoc })
  @ApiResponse({ status: 202, type: TransactionDoc, description: 'the replacement, proposed; poll it like a send' })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'FEE_RATE_OUT_OF_BOUNDS (not above the replaced rate, or above the policy maximum)' })
  @ApiResponse({ status: 404, type: ErrorDoc })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'TX_NOT_REPLACEABLE (not broadcast, confirmed, or no change to pay from), CONFLICT (changed meanwhile: retry)' })
  @ApiResponse({ status: 422, type: ErrorDoc, description: 'FEE_TOO_HIGH' })
  bump(@Param('id', new ZodValidationPipe(transactionIdSchema)) id: string, @Body(new ZodValidationPipe(bumpSchema)) body: ReplaceRequest): Promise<TransactionDto> {
    return this.replacer.replace(id, 'bump', body)
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({
    summary:
      'Cancel (BIP125): a replacement of a broadcast, unconfirmed send paying all its coins back to the wallet at a higher fee rate (default: 1 sat/vB above it); voted and signed like a send',
  })
  @ApiParam({ name: 'id', description: 'the transaction to replace' })
  @ApiBody({ type: CancelRequestDoc, required: false })
  @ApiResponse({ status: 202, type: TransactionDoc, description: 'the replacement, proposed; poll it like a send' })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'FEE_RATE_OUT_OF_BOUNDS' })
  @ApiResponse({ status: 404, type: ErrorDoc })
  @ApiResponse({ status: 409, type: ErrorDoc, description: 'TX_NOT_REPLACEABLE (not broadcast, or confirmed), CONFLICT (changed meanwhile: retry)' })
  @ApiResponse({ status: 422, type: ErrorDoc, description: 'FEE_TOO_HIGH' })
  cancel(@Param('id', new ZodValidationPipe(transactionIdSchema)) id: string, @Body(new ZodValidationPipe(cancelSchema)) body: ReplaceRequest): Promise<TransactionDto> {
    return this.replacer.replace(id, 'cancel', body ?? {})
  }

  /** Admin, like unban: it gives up the guarantee that a reserved coin is spent at most once by this wallet. */
  @Post(':id/abandon')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({
    summary:
      'Release the coin reservations of a failed send (admin; audited tx.abandoned): only when the chain has neither the transaction nor an input spent by it; the record stays failed',
  })
  @ApiBody({ type: AbandonRequestDoc })
  @ApiOkResponse({ type: AbandonDoc })
  @ApiResponse({ status: 400, type: ErrorDoc, description: 'VALIDATION_FAILED (no reason, or longer than 500 characters)' })
  @ApiResponse({ status: 404, type: ErrorDoc })
  @ApiResponse({
    status: 409,
    type: ErrorDoc,
    description:
      'TX_NOT_ABANDONABLE (not failed, or no coins reserved: already released), TX_ON_CHAIN (the chain has it or an input is spent by it), CONFLICT (changed meanwhile: retry)',
  })
  @ApiResponse({ status: 503, type: ErrorDoc, description: 'CHAIN_UNAVAILABLE: the chain could not be asked; nothing released' })
  abandon(
    @Param('id', new ZodValidationPipe(transactionIdSchema)) id: string,
    @Body(new ZodValidationPipe(abandonSchema)) body: AbandonRequest,
    @Req() req: AuthenticatedRequest,
  ): Promise<AbandonDto> {
    return this.abandoner.abandon(id, body.reason, req.twAuth ? { tokenId: req.twAuth.tokenId, name: req.twAuth.name } : null)
  }
}

@ApiTags('presignatures')
@Controller('api/v1/presignatures')
export class PresignaturesController {
  constructor(private readonly presignatures: PresignatureService) {}

  @Post()
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Queue presignature generation where coverage is thinnest (preferred signer set)' })
  @ApiBody({ type: PresignatureRequestDoc })
  @ApiResponse({ status: 202, type: PresignatureJobsDoc, description: 'queued' })
  generate(@Body(new ZodValidationPipe(presignatureRequestSchema)) body: PresignatureRequest): Promise<PresignatureJobsDto> {
    return this.presignatures.generate(body.count, body.signers)
  }

  @Get('status')
  @ApiOperation({ summary: 'Ready presignatures per signer set and coverage of spendable coins' })
  @ApiOkResponse({ type: PresignatureStatusDoc })
  status(): Promise<PresignatureStatusDto> {
    return this.presignatures.status()
  }
}
