import { Command, Interfaces, ux } from '@oclif/core'
import { ApiClient } from '@tw/api'
import { toCliError } from './errors'
import { nodeFlag } from './flags'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>

/**
 * Base of every command: `--json` (oclif's json flag; `run()` returns the typed result,
 * which becomes stdout), one-line errors with a stable code, and a spinner helper that
 * writes to stderr.
 */
export abstract class BaseCommand<T> extends Command {
  static enableJsonFlag = true

  /** Runs `fn` under a progress line on stderr; the line ends with `done` or `failed`. */
  protected async step<R>(title: string, fn: () => Promise<R>): Promise<R> {
    ux.action.start(title)
    try {
      const r = await fn()
      ux.action.stop()
      return r
    } catch (err) {
      ux.action.stop('failed')
      throw err
    }
  }

  /** Updates the status text of the running progress line. */
  protected progress(status: string): void {
    if (ux.action.running) ux.action.status = status
  }

  /** A warning line on stderr, printed in `--json` mode too (stdout stays machine-only). */
  protected warnLine(text: string): void {
    process.stderr.write(text.endsWith('\n') ? text : text + '\n')
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
      process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } }) + '\n')
    } else {
      process.stderr.write(`Error (${e.code}): ${e.message}\n`)
    }
    if (process.env.DEBUG) process.stderr.write(`${err?.stack ?? String(err)}\n`)
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
