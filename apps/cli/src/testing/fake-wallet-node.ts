/**
 * An in-process stand-in for one node's wallet, transaction and presignature endpoints (the
 * REST contract of `@tw/api`), for the CLI's command specs. Transactions walk through
 * `script` one state per `GET /api/v1/transactions/:id`; every request is recorded.
 */
import type {
  AbandonDto,
  AddressDto,
  AddressListDto,
  BalanceDto,
  DepositListDto,
  DescriptorsDto,
  PresignatureJobsDto,
  PresignatureStatusDto,
  QuoteDto,
  SendRequest,
  TransactionDto,
  TransactionStateDto,
  UtxoListDto,
  WalletType,
} from '@tw/api'
import { JsonReply, JsonServer, RecordedRequest, reply, startJsonServer } from './json-server'

export type { RecordedRequest } from './json-server'

export const BALANCE: BalanceDto = {
  network: 'regtest',
  tipHeight: 150,
  wallets: [
    { type: 'segwit', keyId: 'k-ecdsa', confirmedSats: 150_000_000, unconfirmedSats: 20_000, reservedSats: 5_000, utxos: 3 },
    { type: 'taproot', keyId: 'k-schnorr', confirmedSats: 50_000_000, unconfirmedSats: 0, reservedSats: 0, utxos: 1 },
  ],
  confirmedSats: 200_000_000,
  unconfirmedSats: 20_000,
}

export const DESCRIPTORS: DescriptorsDto = {
  network: 'regtest',
  descriptors: [
    { type: 'segwit', keyId: 'k-ecdsa', receive: 'wpkh(tpubA/0/*)#abcd1234', change: 'wpkh(tpubA/1/*)#efgh5678' },
    { type: 'taproot', keyId: 'k-schnorr', receive: 'tr(tpubB/0/*)#ijkl9012', change: 'tr(tpubB/1/*)#mnop3456' },
  ],
}

export const UTXOS: UtxoListDto = {
  network: 'regtest',
  tipHeight: 150,
  utxos: [
    {
      type: 'segwit',
      keyId: 'k-ecdsa',
      txid: 'c1'.repeat(32),
      vout: 0,
      valueSats: 100_000_000,
      address: 'bcrt1qfirst',
      path: 'm/0/0',
      status: 'spendable',
      confirmations: 12,
      reservedBy: null,
      presigned: true,
    },
    {
      type: 'segwit',
      keyId: 'k-ecdsa',
      txid: 'c2'.repeat(32),
      vout: 1,
      valueSats: 5_000,
      address: 'bcrt1qsecond',
      path: 'm/0/1',
      status: 'reserved',
      confirmations: 3,
      reservedBy: 'tx-9',
      presigned: false,
    },
    {
      type: 'taproot',
      keyId: 'k-schnorr',
      txid: 'c3'.repeat(32),
      vout: 2,
      valueSats: 20_000,
      address: 'bcrt1pthird',
      path: 'm/1/0',
      status: 'unconfirmed',
      confirmations: 0,
      reservedBy: null,
      presigned: false,
    },
  ],
  totals: { spendableSats: 100_000_000, reservedSats: 5_000, unconfirmedSats: 20_000 },
}

export const ADDRESSES: AddressListDto = {
  network: 'regtest',
  issued: 3,
  addresses: [
    { address: 'bcrt1qthird', type: 'segwit', keyId: 'k-ecdsa', path: 'm/0/2', index: 2, change: false, network: 'regtest', label: null, used: false, txCount: 0, receivedSats: 0 },
    {
      address: 'bcrt1qsecond',
      type: 'segwit',
      keyId: 'k-ecdsa',
      path: 'm/0/1',
      index: 1,
      change: false,
      network: 'regtest',
      label: 'acme',
      used: true,
      txCount: 2,
      receivedSats: 70_000,
    },
    {
      address: 'bcrt1qfirst',
      type: 'segwit',
      keyId: 'k-ecdsa',
      path: 'm/0/0',
      index: 0,
      change: false,
      network: 'regtest',
      label: 'invoice 42',
      used: false,
      txCount: 0,
      receivedSats: 0,
    },
  ],
}

export const DEPOSITS: DepositListDto = {
  network: 'regtest',
  tipHeight: 150,
  addressesScanned: 4,
  deposits: [
    {
      type: 'taproot',
      keyId: 'k-schnorr',
      txid: 'd1'.repeat(32),
      vout: 1,
      valueSats: 20_000,
      address: 'bcrt1pdeposit',
      path: 'm/0/2',
      confirmations: 0,
      blockHeight: null,
      blockTime: null,
      fromWallet: true,
    },
    {
      type: 'segwit',
      keyId: 'k-ecdsa',
      txid: 'd2'.repeat(32),
      vout: 0,
      valueSats: 200_000,
      address: 'bcrt1qdeposit',
      path: 'm/0/0',
      confirmations: 12,
      blockHeight: 139,
      blockTime: '2025-01-01T00:00:00.000Z',
      fromWallet: false,
    },
  ],
}

/** The payments of a send body as the fake makes them ("max": the input less the fee). */
function paymentsFor(b: SendRequest, feeSats: number): { address: string; amountSats: number }[] {
  if (b.consolidate) return []
  const asked = b.recipients ?? [{ to: b.to ?? '', amountSats: b.amountSats ?? 0 }]
  return asked.map((r, i) => ({
    address: r.to,
    amountSats: (r.amountSats === 'max' ? 100_000_000 : Number(r.amountSats)) - (b.subtractFeeFromAmount || r.amountSats === 'max' ? (i === 0 ? feeSats : 0) : 0),
  }))
}

/** The quote the fake answers for a send body: one 100 000 000-sat input, fee = 141 vB × rate. */
export function quoteFor(b: SendRequest): QuoteDto {
  const type = b.type ?? 'segwit'
  const feeRate = b.feeRate ?? 2
  const feeSats = Math.ceil(141 * feeRate)
  const recipients = paymentsFor(b, feeSats)
  const amountSats = recipients.reduce((n, r) => n + r.amountSats, 0)
  const changeSats = b.amountSats === 'max' ? 0 : 100_000_000 - amountSats - feeSats
  return {
    type,
    keyId: type === 'segwit' ? 'k-ecdsa' : 'k-schnorr',
    to: recipients[0]?.address ?? 'bcrt1qchange7',
    amountSats,
    recipients,
    feeSats,
    feeRate,
    vsize: 141,
    inputs: [{ txid: 'c1'.repeat(32), vout: 0, valueSats: 100_000_000, path: 'm/0/0' }],
    outputs: [
      ...recipients.map((r) => ({ address: r.address, valueSats: r.amountSats, change: false })),
      ...(changeSats > 0 ? [{ address: 'bcrt1qchange7', valueSats: changeSats, change: true }] : []),
    ],
    changeSats,
    signingMode: type === 'taproot' ? 'frost' : 'presignature',
    tipHeight: 150,
  }
}

export const PRESIG_STATUS: PresignatureStatusDto = {
  keyId: 'k-ecdsa',
  preferredSigners: [1, 2, 3, 4],
  ready: { '1,2,3,4': 7, '1,2,3,5': 2 },
  generating: 3,
  used: 5,
  burned: 1,
  coverage: { utxos: 4, covered: 3, ratio: 0.75 },
}

export function makeTx(over: Partial<TransactionDto> = {}): TransactionDto {
  return {
    id: 'tx-1',
    requestId: 'req-1',
    state: 'pending',
    type: 'segwit',
    keyId: 'k-ecdsa',
    to: 'bcrt1qdest',
    amountSats: 50_000,
    recipients: [{ address: 'bcrt1qdest', amountSats: 50_000 }],
    memo: null,
    externalId: null,
    replacement: null,
    replacedBy: null,
    consolidation: false,
    feeSats: 282,
    feeRate: 2,
    vsize: 141,
    inputs: [{ txid: 'aa'.repeat(32), vout: 1, valueSats: 100_000, path: 'm/0/3' }],
    outputs: [
      { address: 'bcrt1qdest', valueSats: 50_000, change: false },
      { address: 'bcrt1qchange', valueSats: 49_718, change: true },
    ],
    txid: null,
    hex: null,
    psbt: 'cHNidP8=',
    signers: null,
    signingMode: null,
    votes: [],
    confirmations: 0,
    error: null,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    history: [{ state: 'pending', at: '2025-01-01T00:00:00.000Z' }],
    ...over,
  }
}

const TXID = 'bb'.repeat(32)

/** How a transaction looks once it reached `state` (txid, signers, votes filled in as a node would). */
function advance(tx: TransactionDto, state: TransactionStateDto, o: { error?: { code: string; message: string }; confirmationsAtEnd: number; txid?: string }): TransactionDto {
  const at = new Date(Date.parse(tx.updatedAt) + 1000).toISOString()
  const next: TransactionDto = { ...tx, state, updatedAt: at, history: [...tx.history, { state, at }] }
  const idx = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed'].indexOf(state)
  if (idx >= 2 || state === 'rejected') {
    next.votes = [1, 2, 3, 4, 5].map((nodeId) => ({
      nodeId,
      approve: state !== 'rejected' || nodeId === 1,
      reason: state === 'rejected' && nodeId !== 1 ? 'amount over limit' : null,
      signatureValid: true,
      votedAt: at,
    }))
  }
  if (idx >= 3) {
    next.signers = [1, 2, 3, 4]
    next.signingMode = tx.type === 'taproot' ? 'frost' : 'presignature'
  }
  if (idx >= 4) {
    next.txid = o.txid ?? TXID
    next.hex = '02000000'
  }
  if (state === 'confirmed') next.confirmations = o.confirmationsAtEnd
  if (['rejected', 'failed', 'expired'].includes(state)) next.error = o.error ?? { code: 'POLICY_VIOLATION', message: 'no reason' }
  return next
}

export class FakeWalletNode {
  /** States a new transaction walks through (first = the POST answer). */
  script: TransactionStateDto[] = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast']
  /** The `error` of a transaction that ends rejected/failed/expired. */
  failure: { code: string; message: string } = { code: 'POLICY_VIOLATION', message: '3 of 5 nodes rejected: amount over limit' }
  /** Confirmations a transaction reports once `confirmed` (stays there, one more per poll up to this). */
  confirmationsAtEnd = 1
  /** The next N `POST /api/v1/transactions` are read and then answered by a dropped connection. */
  dropPosts = 0
  /** If set, `POST /api/v1/transactions` answers with this error. */
  postError?: { status: number; code: string; message: string }
  /** `GET /api/v1/audit/verify`: intact (null) or broken at this row. */
  auditBrokenAt: string | null = null
  /** If set, answers `GET /api/v1/wallet/balance` (else {@link BALANCE}). */
  balance?: () => BalanceDto
  /** If set, the txid a transaction gets once signed (else `bb…bb` for all). */
  txidOf?: (id: string) => string
  /** Ids of transactions the chain has (`POST …/abandon` answers 409 TX_ON_CHAIN). */
  readonly onChain = new Set<string>()
  /** Ids whose coin reservations `POST …/abandon` released (a second one answers 409 TX_NOT_ABANDONABLE). */
  readonly abandoned = new Set<string>()
  /** Every transaction by id, and by idempotency key. */
  readonly txs = new Map<string, { tx: TransactionDto; step: number }>()
  readonly byKey = new Map<string, string>()
  private nextAddress = 0
  private server?: JsonServer
  url = ''

  /** Every request so far (the server's record; empty until started). */
  get requests(): RecordedRequest[] {
    return this.server?.requests ?? []
  }

  reset(): void {
    this.requests.length = 0
    this.txs.clear()
    this.byKey.clear()
    this.script = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast']
    this.confirmationsAtEnd = 1
    this.dropPosts = 0
    this.postError = undefined
    this.balance = undefined
    this.auditBrokenAt = null
    this.txidOf = undefined
    this.onChain.clear()
    this.abandoned.clear()
  }

  /** Requests with `method` whose path starts with `prefix`. */
  calls(method: string, prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(prefix))
  }

  async start(): Promise<this> {
    this.server = await startJsonServer((req) => this.handle(req))
    this.url = this.server.url
    return this
  }

  private handle(req: RecordedRequest): JsonReply | 'drop' {
    const { url, body } = req
    const u = new URL(url, 'http://x')
    if (req.method === 'GET' && u.pathname === '/api/v1/wallet/balance') return reply(200, this.balance ? this.balance() : BALANCE)
    if (req.method === 'GET' && u.pathname === '/api/v1/wallet/descriptors') return reply(200, DESCRIPTORS)
    if (req.method === 'GET' && u.pathname === '/api/v1/audit/verify') {
      const broken = this.auditBrokenAt
      return reply(
        200,
        broken ? { ok: false, checked: 41, firstBrokenId: broken, reason: 'hash does not match the row' } : { ok: true, checked: 120, firstBrokenId: null, reason: null },
      )
    }
    if (req.method === 'GET' && u.pathname === '/api/v1/wallet/addresses') {
      const used = u.searchParams.get('used')
      return reply(200, { ...ADDRESSES, addresses: ADDRESSES.addresses.filter((a) => used === null || String(a.used) === used) })
    }
    if (req.method === 'GET' && u.pathname === '/api/v1/wallet/deposits') {
      const type = u.searchParams.get('type')
      const limit = Number(u.searchParams.get('limit') ?? 100)
      return reply(200, { ...DEPOSITS, deposits: DEPOSITS.deposits.filter((d) => !type || d.type === type).slice(0, limit) })
    }
    if (req.method === 'GET' && u.pathname === '/api/v1/wallet/utxos') {
      const type = u.searchParams.get('type')
      const status = u.searchParams.get('status')
      const utxos = UTXOS.utxos.filter((x) => (!type || x.type === type) && (!status || x.status === status))
      const sum = (st: string) => utxos.filter((x) => x.status === st).reduce((a, x) => a + x.valueSats, 0)
      return reply(200, { ...UTXOS, utxos, totals: { spendableSats: sum('spendable'), reservedSats: sum('reserved'), unconfirmedSats: sum('unconfirmed') } })
    }
    if (req.method === 'POST' && u.pathname === '/api/v1/transactions/quote') {
      if (this.postError) return reply(this.postError.status, { error: { code: this.postError.code, message: this.postError.message } })
      return reply(200, quoteFor(body as SendRequest))
    }
    if (req.method === 'POST' && u.pathname === '/api/v1/wallet/address') {
      const asked = (body ?? {}) as { type?: WalletType; change?: boolean; label?: string }
      const type = asked.type ?? 'segwit'
      if (type !== 'segwit' && type !== 'taproot') return reply(400, { error: { code: 'VALIDATION_FAILED', message: 'type must be segwit or taproot' } })
      const change = asked.change === true
      const index = this.nextAddress++
      const a: AddressDto = {
        address: `${type === 'segwit' ? 'bcrt1q' : 'bcrt1p'}fake${change ? 'change' : ''}${index}`,
        type,
        keyId: type === 'segwit' ? 'k-ecdsa' : 'k-schnorr',
        path: `m/${change ? 1 : 0}/${index}`,
        index,
        change,
        network: 'regtest',
        label: asked.label ?? null,
      }
      return reply(200, a)
    }
    if (req.method === 'POST' && u.pathname === '/api/v1/transactions') {
      if (this.dropPosts > 0) {
        this.dropPosts--
        return 'drop'
      }
      if (this.postError) return reply(this.postError.status, { error: { code: this.postError.code, message: this.postError.message } })
      const key = req.headers['idempotency-key']
      const known = typeof key === 'string' ? this.byKey.get(key) : undefined
      if (known) return reply(200, this.txs.get(known)?.tx)
      const b = body as SendRequest
      const id = `tx-${this.txs.size + 1}`
      const q = quoteFor(b)
      let tx = makeTx({
        id,
        to: q.to,
        amountSats: q.amountSats,
        recipients: q.recipients,
        memo: b.memo ?? null,
        externalId: b.externalId ?? null,
        consolidation: b.consolidate === true,
        ...(b.consolidate ? { outputs: q.outputs } : {}),
        type: b.type ?? 'segwit',
        feeRate: b.feeRate ?? 2,
        history: [],
      })
      tx = advance({ ...tx, history: [] }, this.script[0], { error: this.failure, confirmationsAtEnd: this.confirmationsAtEnd, txid: this.txidOf?.(id) })
      this.txs.set(id, { tx, step: 0 })
      if (typeof key === 'string') this.byKey.set(key, id)
      return reply(201, tx)
    }
    if (req.method === 'GET' && u.pathname === '/api/v1/transactions') {
      // Filters and pages as the node does (its cursor here: the offset, as a string of digits).
      const q = u.searchParams
      const limit = Number(q.get('limit') ?? 50)
      const cursor = q.get('cursor')
      if (!Number.isInteger(limit) || limit < 1 || limit > 500 || (cursor !== null && !/^c\d+$/.test(cursor))) {
        return reply(400, { error: { code: 'VALIDATION_FAILED', message: 'invalid request: cursor: cursor is not one this node handed out' } })
      }
      const since = q.get('since')
      const all = [...this.txs.values()]
        .map((t) => t.tx)
        .filter(
          (t) =>
            (!q.get('state') || t.state === q.get('state')) &&
            (!q.get('type') || t.type === q.get('type')) &&
            (!since || Date.parse(t.createdAt) >= Date.parse(since)) &&
            (!q.get('externalId') || t.externalId === q.get('externalId')),
        )
      const from = cursor ? Number(cursor.slice(1)) : 0
      const page = all.slice(from, from + limit)
      return reply(200, { transactions: page, nextCursor: from + limit < all.length ? `c${from + limit}` : null })
    }
    const m = /^\/api\/v1\/transactions\/([^/]+)$/.exec(u.pathname)
    if (req.method === 'GET' && m) {
      const entry = this.txs.get(decodeURIComponent(m[1]))
      if (!entry) return reply(404, { error: { code: 'NOT_FOUND', message: `no transaction ${m[1]}` } })
      if (entry.step < this.script.length - 1) {
        entry.step++
        entry.tx = advance(entry.tx, this.script[entry.step], { error: this.failure, confirmationsAtEnd: 1, txid: this.txidOf?.(entry.tx.id) })
      } else if (entry.tx.state === 'confirmed' && entry.tx.confirmations < this.confirmationsAtEnd) {
        entry.tx = { ...entry.tx, confirmations: entry.tx.confirmations + 1 }
      }
      return reply(200, entry.tx)
    }
    const abandon = /^\/api\/v1\/transactions\/([^/]+)\/abandon$/.exec(u.pathname)
    if (req.method === 'POST' && abandon) return this.abandon(decodeURIComponent(abandon[1]), body)
    const replace = /^\/api\/v1\/transactions\/([^/]+)\/(bump|cancel)$/.exec(u.pathname)
    if (req.method === 'POST' && replace) return this.replace(decodeURIComponent(replace[1]), replace[2] as 'bump' | 'cancel', body)
    if (req.method === 'POST' && u.pathname === '/api/v1/presignatures') {
      const count = (body as { count?: number } | undefined)?.count ?? 0
      const jobs: PresignatureJobsDto = {
        queued: Array.from({ length: count }, (_, i) => ({ id: `job-${i + 1}`, keyId: 'k-ecdsa', path: `m/0/${i}`, signers: [1, 2, 3, 4] })),
      }
      return reply(202, jobs)
    }
    if (req.method === 'GET' && u.pathname === '/api/v1/presignatures/status') return reply(200, PRESIG_STATUS)
    return reply(404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url}` } })
  }

  /** `POST /api/v1/transactions/:id/bump|cancel`: a replacement walking the send states (a broadcast original only). */
  private replace(id: string, kind: 'bump' | 'cancel', body: unknown): JsonReply {
    const x = this.txs.get(id)?.tx
    if (!x) return reply(404, { error: { code: 'NOT_FOUND', message: `no unfinished transaction ${id}` } })
    if (x.state !== 'broadcast')
      return reply(409, { error: { code: 'TX_NOT_REPLACEABLE', message: `transaction ${id} is ${x.state}: only a broadcast transaction that has not confirmed can be replaced` } })
    const feeRate = (body as { feeRate?: number } | undefined)?.feeRate ?? Math.floor(x.feeRate) + 1
    if (!(feeRate > x.feeRate)) return reply(400, { error: { code: 'FEE_RATE_OUT_OF_BOUNDS', message: `feeRate must be above the ${x.feeRate} sat/vB transaction ${id} pays` } })
    const rid = `tx-${this.txs.size + 1}`
    const feeSats = Math.ceil(feeRate * x.vsize)
    const sumIn = x.inputs.reduce((n, i) => n + i.valueSats, 0)
    const outputs =
      kind === 'bump'
        ? x.outputs.map((o) => (o.change ? { ...o, valueSats: o.valueSats - (feeSats - x.feeSats) } : o))
        : [{ address: 'bcrt1qchange', valueSats: sumIn - feeSats, change: true }]
    let tx = makeTx({
      ...x,
      id: rid,
      feeRate,
      feeSats,
      outputs,
      amountSats: kind === 'bump' ? x.amountSats : 0,
      recipients: kind === 'bump' ? x.recipients : [],
      replacement: { of: id, kind },
      txid: null,
      history: [],
    })
    tx = advance({ ...tx, history: [] }, this.script[0], { error: this.failure, confirmationsAtEnd: this.confirmationsAtEnd, txid: this.txidOf?.(rid) })
    this.txs.set(rid, { tx, step: 0 })
    return reply(202, tx)
  }

  /** `POST /api/v1/transactions/:id/abandon` as the node answers it (its checks in the same order). */
  private abandon(id: string, body: unknown): JsonReply {
    const reason = (body as { reason?: unknown } | undefined)?.reason
    if (typeof reason !== 'string' || reason.trim().length < 1 || reason.trim().length > 500) {
      return reply(400, { error: { code: 'VALIDATION_FAILED', message: 'invalid request: reason: reason is required (1-500 characters)' } })
    }
    const tx = this.txs.get(id)?.tx
    if (!tx) return reply(404, { error: { code: 'NOT_FOUND', message: `no transaction ${id}` } })
    const refuse = (code: string, message: string, details?: unknown) => reply(409, { error: { code, message, details } })
    if (tx.state !== 'failed') return refuse('TX_NOT_ABANDONABLE', `transaction ${id} is ${tx.state}, not failed: only a failed send's coins can be released this way`)
    if (this.abandoned.has(id)) return refuse('TX_NOT_ABANDONABLE', `transaction ${id} holds no coin reservations (already released): nothing to release`)
    const txid = tx.txid ?? TXID
    if (this.onChain.has(id)) {
      return refuse('TX_ON_CHAIN', `the chain has transaction ${txid} in the mempool: it may still confirm (or did); its coins stay reserved`, {
        chain: { status: { found: true, confirmed: false, blockHeight: null }, outspends: [] },
      })
    }
    this.abandoned.add(id)
    const answer: AbandonDto = {
      id,
      txid,
      released: tx.inputs.map((i) => `${i.txid}:${i.vout}`),
      abandonedAt: '2025-02-03T04:05:06.000Z',
      warning: `Transaction ${txid} stays valid while its inputs are unspent: whoever holds a signed copy can broadcast it later. A new send that spends the same coins conflicts with it (only one of the two can confirm), but a send of other coins to the same payee could pay them twice.`,
    }
    return reply(200, answer)
  }

  async close(): Promise<void> {
    await this.server?.close()
  }
}
