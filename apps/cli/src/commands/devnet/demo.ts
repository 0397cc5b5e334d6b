import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { ApiClient, BalanceDto, SendRequest, TransactionDto, TransactionStateDto, WalletType } from '@tw/api'
import { parseAmountSats } from '../../shared/amounts'
import { BaseCommand } from '../../shared/base-command'
import { MineResult, RegtestClient } from '../../shared/devnet/regtest'
import { devnetChainUrl, devnetNodeUrl } from '../../shared/devnet/targets'
import { CliError } from '../../shared/errors'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'
import { followTransaction, isNetworkError, TX_FAILED_STATES } from '../../shared/transactions'
import { chainUrlFlag, optionalNodeFlag, WALLET_TYPES } from '../../shared/wallet-flags'
import { resolveToken } from '../../shared/cli-config'

const messages = Messages.load('devnet.demo')

/** Satoshis the faucet pays to each wallet type before the spends. */
export const DEMO_FUNDING_SATS = 200_000

/** One faucet payment to the wallet. */
export interface DemoFunding {
  type: WalletType
  address: string
  amountSats: number
  /** The faucet transaction. */
  txid: string
}

/** One spend of the demo, once confirmed. */
export interface DemoSpend {
  type: WalletType
  /** The node's transaction id (`threshold-wallet tx show <id>`). */
  id: string
  idempotencyKey: string
  txid: string | null
  state: TransactionStateDto
  confirmations: number
  to: string
  amountSats: number
  feeSats: number
  feeRate: number
  vsize: number
  /** 'presignature' | 'full' (ECDSA) or 'frost' (Taproot). */
  signingMode: string | null
  signers: number[] | null
  /** Every state the CLI saw, in order. */
  states: TransactionStateDto[]
}

/** Confirmed balance in sats per wallet type. */
export type DemoBalances = Record<WalletType, number>

export interface DevnetDemoResult {
  nodeUrl: string
  chainUrl: string
  funding: DemoFunding[]
  spends: DemoSpend[]
  /** Confirmed balances once the funding is confirmed (before) and once both spends are (after). */
  balances: { before: DemoBalances; after: DemoBalances }
  /** The blocks mined: one for the funding, one for the spends. */
  mined: MineResult[]
}

/** The part of `GET <chain>/regtest/info` the demo reads. */
interface RegtestInfo {
  faucet?: { address?: string }
}

function confirmedOf(b: BalanceDto, type: WalletType): number | undefined {
  return b.wallets.find((w) => w.type === type)?.confirmedSats
}

export default class DevnetDemo extends BaseCommand<DevnetDemoResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    amount: Flags.string({ default: '50000', summary: messages.get('flags.amount.summary'), helpValue: '<sats>' }),
    timeout: Flags.integer({ default: 600, min: 1, summary: messages.get('flags.timeout.summary'), helpValue: '<seconds>' }),
    dir: devnetDirFlag(),
    node: optionalNodeFlag({ description: messages.get('flags.node.description') }),
    'chain-url': chainUrlFlag({ summary: messages.get('flags.chain-url.summary') }),
    'poll-interval': Flags.integer({ default: 1000, min: 10, hidden: true, summary: 'Milliseconds between status polls.' }),
  }

  private deadline = 0
  private timeoutS = 0
  private pollMs = 1000

  async run(): Promise<DevnetDemoResult> {
    const { flags } = await this.parse(DevnetDemo)
    const amountSats = parseAmountSats(flags.amount)
    this.timeoutS = flags.timeout
    this.deadline = Date.now() + flags.timeout * 1000
    this.pollMs = flags['poll-interval']
    const chainUrl = devnetChainUrl(flags.dir, flags['chain-url'])
    const nodeUrl = devnetNodeUrl(flags.dir, flags.node)
    const chain = new RegtestClient(chainUrl)
    const node = new ApiClient({ baseUrl: nodeUrl, token: resolveToken(undefined, nodeUrl, process.env, process.cwd(), flags.dir) })

    // The spends go to the faucet's own address: outside the wallet, so the balance drops by amount + fee.
    const info = await this.step(messages.get('progress.info', [chainUrl]), () => this.chainInfo(chainUrl))
    const to = info.faucet?.address
    if (!to) throw new CliError('DEMO_NO_FAUCET_ADDRESS', messages.get('error.NoFaucetAddress', [chainUrl]))
    const start = await this.step(messages.get('progress.balance', [nodeUrl]), () => node.balance())
    for (const type of WALLET_TYPES) {
      if (confirmedOf(start, type) === undefined) throw new CliError('DEMO_NO_WALLET', messages.get('error.NoWallet', [type]))
    }

    // 1. Funding: one faucet payment per wallet type, one block, until the node sees them confirmed.
    const funding: DemoFunding[] = []
    for (const type of WALLET_TYPES) {
      const { address } = await node.address(type)
      const { txid } = await this.step(messages.get('progress.fund', [DEMO_FUNDING_SATS, type, address]), () => chain.faucet(address, DEMO_FUNDING_SATS))
      funding.push({ type, address, amountSats: DEMO_FUNDING_SATS, txid })
    }
    const mined = [await this.step(messages.get('progress.mine'), () => chain.mine(1))]
    const funded = await this.step(messages.get('progress.fundConfirmed'), () =>
      this.pollBalance(node, (b) => WALLET_TYPES.every((t) => (confirmedOf(b, t) ?? 0) >= (confirmedOf(start, t) ?? 0) + DEMO_FUNDING_SATS), this.deadline, true),
    )
    const before = this.balances(funded)

    // 2. One spend per wallet type, in turn, each followed until broadcast.
    const spends: { type: WalletType; key: string; tx: TransactionDto; states: TransactionStateDto[] }[] = []
    for (const type of WALLET_TYPES) {
      const key = randomUUID()
      const body: SendRequest = { to, amountSats, type }
      const first = await this.step(messages.get('progress.send', [amountSats, type, to]), () => this.submit(node, body, key))
      const states: TransactionStateDto[] = []
      const tx = await this.step(messages.get('progress.follow', [first.id, type]), () => this.follow(node, first, states, 'broadcast'))
      this.assertNotFailed(type, tx)
      spends.push({ type, key, tx, states })
    }

    // 3. One block, then both confirmed.
    mined.push(await this.step(messages.get('progress.mine'), () => chain.mine(1)))
    for (const s of spends) {
      s.tx = await this.step(messages.get('progress.confirm', [s.tx.id, s.type]), () => this.follow(node, s.tx, s.states, 'confirmed'))
      this.assertNotFailed(s.type, s.tx)
    }

    // 4. Each wallet's confirmed balance dropped by exactly amount + fee.
    const expected = Object.fromEntries(
      WALLET_TYPES.map((t) => [t, before[t] - spends.filter((s) => s.type === t).reduce((a, s) => a + s.tx.amountSats + s.tx.feeSats, 0)]),
    ) as DemoBalances
    const settleBy = Math.min(this.deadline, Date.now() + Math.min(30_000, 20 * this.pollMs))
    const last = await this.step(messages.get('progress.balanceAfter'), () =>
      this.pollBalance(node, (b) => WALLET_TYPES.every((t) => confirmedOf(b, t) === expected[t]), settleBy, false),
    )
    const after = this.balances(last)
    for (const s of spends) {
      if (after[s.type] !== expected[s.type]) {
        throw new CliError(
          'DEMO_BALANCE_MISMATCH',
          messages.get('error.BalanceMismatch', [s.type, after[s.type], expected[s.type], before[s.type], s.tx.amountSats, s.tx.feeSats]),
          1,
          { before, after, expected },
        )
      }
    }

    const result: DevnetDemoResult = {
      nodeUrl,
      chainUrl,
      funding,
      spends: spends.map(({ type, key, tx, states }) => ({
        type,
        id: tx.id,
        idempotencyKey: key,
        txid: tx.txid,
        state: tx.state,
        confirmations: tx.confirmations,
        to: tx.to,
        amountSats: tx.amountSats,
        feeSats: tx.feeSats,
        feeRate: tx.feeRate,
        vsize: tx.vsize,
        signingMode: tx.signingMode,
        signers: tx.signers,
        states,
      })),
      balances: { before, after },
      mined,
    }
    this.log(messages.get('summary.title', [amountSats, to]))
    this.log(
      renderTable(result.spends, [
        { header: 'TYPE', get: (s) => s.type },
        { header: 'TXID', get: (s) => s.txid },
        { header: 'FEE (sat)', get: (s) => s.feeSats },
        { header: 'MODE', get: (s) => s.signingMode },
        { header: 'SIGNERS', get: (s) => s.signers?.join(',') },
        { header: 'BEFORE (sat)', get: (s) => before[s.type] },
        { header: 'AFTER (sat)', get: (s) => after[s.type] },
      ]),
    )
    this.log(messages.get('summary.ok'))
    return result
  }

  private balances(b: BalanceDto): DemoBalances {
    return Object.fromEntries(WALLET_TYPES.map((t) => [t, confirmedOf(b, t) ?? 0])) as DemoBalances
  }

  private timeoutError(what: string): CliError {
    return new CliError('DEMO_TIMEOUT', messages.get('error.Timeout', [what, this.timeoutS]))
  }

  private async chainInfo(chainUrl: string): Promise<RegtestInfo> {
    try {
      return await new ApiClient({ baseUrl: chainUrl }).request<RegtestInfo>('GET', '/regtest/info')
    } catch (err) {
      if (isNetworkError(err)) {
        throw new CliError('REGTEST_UNREACHABLE', `${err.message}. Is the devnet up? Run \`threshold-wallet devnet up\` or pass --chain-url.`)
      }
      throw err
    }
  }

  /** `GET /api/v1/wallet/balance` until `ok` holds or `until` passes (then a timeout error if `strict`, else the last answer). */
  private async pollBalance(node: ApiClient, ok: (b: BalanceDto) => boolean, until: number, strict: boolean): Promise<BalanceDto> {
    let last: BalanceDto | undefined
    for (;;) {
      try {
        last = await node.balance()
        if (ok(last)) return last
        this.progress(WALLET_TYPES.map((t) => `${t} ${confirmedOf(last as BalanceDto, t) ?? 0} sats confirmed`).join(', '))
      } catch (err) {
        if (!isNetworkError(err)) throw err
        this.progress(messages.get('progress.unreachable'))
      }
      if (Date.now() > until) {
        if (strict || !last) throw this.timeoutError('the wallet balance did not show the funding confirmed')
        return last
      }
      await sleep(this.pollMs)
    }
  }

  /** POST /api/v1/transactions; on a network error, once more with the same key (the node may have got the first). */
  private async submit(node: ApiClient, body: SendRequest, key: string): Promise<TransactionDto> {
    const timeoutMs = (): number => Math.max(1000, this.deadline - Date.now())
    try {
      return await node.send(body, key, timeoutMs())
    } catch (err) {
      if (!isNetworkError(err)) throw err
      this.progress(messages.get('progress.unreachable'))
      await sleep(Math.min(1000, this.pollMs))
      return node.send(body, key, timeoutMs())
    }
  }

  private follow(node: ApiClient, first: TransactionDto, states: TransactionStateDto[], until: 'broadcast' | 'confirmed'): Promise<TransactionDto> {
    return followTransaction(node, first, states, {
      until,
      confirmations: 0,
      deadline: this.deadline,
      pollMs: this.pollMs,
      progress: (s) => this.progress(s),
      unreachable: messages.get('progress.unreachable'),
      timeoutError: (tx) => this.timeoutError(`transaction ${tx.id} (${tx.type}) still ${tx.state}`),
    })
  }

  /** Outside the progress step, so its line does not end with "failed" (a state name of its own). */
  private assertNotFailed(type: WalletType, tx: TransactionDto): void {
    if (!TX_FAILED_STATES.includes(tx.state)) return
    const reason = tx.error ? `${tx.error.message} (${tx.error.code})` : 'no reason given'
    throw new CliError(`TX_${tx.state.toUpperCase()}`, messages.get('error.Ended', [type, tx.id, tx.state, reason]), 1, { transaction: tx })
  }
}
