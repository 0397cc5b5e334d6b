import { Command, Flags, Interfaces, ux } from '@oclif/core'
import { ApiClient, type TransactionDto, type TransactionStateDto } from '@tw/api'
import { CliError, EXIT_PENDING, toCliError } from './errors'
import { Reporter, stderrReporter } from './progress'
import { nodeFlag, profileFlag } from './flags'
import { resolveToken, selectedProfile } from './cli-config'
import type { Messages } from './messages'
import { followTransaction } from './transactions'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>

/**
 * Base of every command: `--json` (oclif's json flag; `run()` returns the typed result,
 * which becomes stdout), one-line errors with a stable code, and a spinner helper that
 * writes to stderr.
 */
export abstract class BaseCommand<T> extends Command {
  static enableJsonFlag = true

  /** Progress on stderr: a spinner on a terminal, plain lines otherwise. */
  protected readonly reporter: Reporter = stderrReporter()

  /** Runs `fn` under a progress line on stderr; the line ends with `done` or `failed`. */
  protected step<R>(title: string, fn: () => Promise<R>): Promise<R> {
    return this.reporter.step(title, fn)
  }

  /** Updates the status text of the running step. */
  protected progress(status: string): void {
    this.reporter.progress(status)
  }

  /** A warning line on stderr, printed in `--json` mode too (stdout stays machine-only). */
  protected warnLine(text: string): void {
    ux.stderr(text)
  }

  abstract run(): Promise<T>

  /**
   * Prints the error as one line — `{"error":{code,message}}` on stdout with `--json`, else
   * `Error (CODE): message` on stderr — and exits non-zero. DEBUG adds the stack.
   */
  async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (ux.action.running) ux.action.stop('failed')
    const e = toCliError(err)
    if (this.jsonEnabled()) {
      ux.stdout(JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } }))
    } else {
      ux.stderr(`Error (${e.code}): ${e.message}`)
    }
    if (process.env.DEBUG) ux.stderr(err?.stack ?? String(err))
    return this.exit(e.exitCode)
  }
}

/** `--token`: the API bearer token (else $TW_API_TOKEN, the devnet's token, or the `login` file). */
export const tokenFlag = () =>
  Flags.string({
    summary: 'API token (tw_...) sent as a bearer token.',
    description:
      "Defaults to $TW_API_TOKEN, else the local devnet's admin token when talking to a devnet node, else the token saved by `threshold-wallet login` (~/.config/threshold-wallet/config.json).",
    helpValue: '<token>',
  })

/** Base of commands that talk to one node's REST API (`--node`, `--token`). */
export abstract class NodeCommand<T> extends BaseCommand<T> {
  static baseFlags = { node: nodeFlag(), token: tokenFlag(), profile: profileFlag() }

  private tokenFromFlag: string | undefined
  private profile: string | undefined

  override async init(): Promise<void> {
    await super.init()
    const { flags } = await this.parse(this.ctor as unknown as typeof NodeCommand)
    this.tokenFromFlag = (flags as { token?: string }).token
    this.profile = selectedProfile((flags as { profile?: string }).profile)
  }

  /** A client for `url` with the token of `--token` > $TW_API_TOKEN > the profile's > devnet > login file. */
  protected client(url: string, timeoutMs?: number): ApiClient {
    return new ApiClient({ baseUrl: url, token: resolveToken(this.tokenFromFlag, url, process.env, process.cwd(), undefined, this.profile), timeoutMs })
  }

  /**
   * Follows a transaction the node accepted until broadcast (or `--confirmations`), as one
   * progress step, recording every state in `states`; the command's messages give the step's
   * words (`progress.follow`, `progress.unreachable`, `error.Timeout`). Past `deadline`:
   * TX_TIMEOUT, exit 3 (it may still complete).
   */
  protected followAccepted(
    client: ApiClient,
    tx: TransactionDto,
    states: TransactionStateDto[],
    flags: { confirmations: number; timeout: number; 'poll-interval': number },
    deadline: number,
    messages: Messages,
  ): Promise<TransactionDto> {
    return this.step(messages.get('progress.follow', [tx.id]), () =>
      followTransaction(client, tx, states, {
        confirmations: flags.confirmations,
        deadline,
        pollMs: flags['poll-interval'],
        progress: (s) => this.progress(s),
        unreachable: messages.get('progress.unreachable'),
        timeoutError: (t) => new CliError('TX_TIMEOUT', messages.get('error.Timeout', [t.id, t.state, flags.timeout, t.id]), EXIT_PENDING, { transaction: t }),
      }),
    )
  }
}
