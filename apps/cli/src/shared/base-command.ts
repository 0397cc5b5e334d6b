import { Command, Interfaces, ux } from '@oclif/core'
import { ApiClient } from '@tw/api'
import { toCliError } from './errors'
import { Reporter, stderrReporter } from './progress'
import { nodeFlag } from './flags'

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

/** Base of commands that talk to one node's REST API (`--node`). */
export abstract class NodeCommand<T> extends BaseCommand<T> {
  static baseFlags = { node: nodeFlag() }

  protected client(url: string, timeoutMs?: number): ApiClient {
    return new ApiClient({ baseUrl: url, token: process.env.TW_API_TOKEN, timeoutMs })
  }
}
