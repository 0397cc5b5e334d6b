import { ux } from '@oclif/core'

/** How long-running work shows progress; the devnet code never prints by itself. */
export interface Reporter {
  step<R>(title: string, fn: () => Promise<R>): Promise<R>
  progress(status: string): void
  warn(line: string): void
}

/**
 * A {@link Reporter} on stderr. On a terminal: oclif's spinner (ux.action). Otherwise
 * (CI, pipes, logs): one plain line per step and per status change, each newline-ended.
 */
export function stderrReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  const line = (text: string): void => ux.stderr(text)
  if (stream.isTTY) {
    return {
      async step(title, fn) {
        ux.action.start(title)
        try {
          const r = await fn()
          ux.action.stop()
          return r
        } catch (err) {
          ux.action.stop('failed')
          throw err
        }
      },
      progress(status) {
        if (ux.action.running) ux.action.status = status
      },
      warn(text) {
        // pause() runs the callback synchronously and returns its result (typed as a Promise,
        // here undefined): nothing is left pending, and a throw from line() reaches the caller.
        if (ux.action.running) void ux.action.pause(() => line(text))
        else line(text)
      },
    }
  }
  let current: string | undefined
  let last: string | undefined
  return {
    async step(title, fn) {
      current = title
      last = undefined
      line(`${title}...`)
      try {
        const r = await fn()
        line(`${title}... done`)
        return r
      } catch (err) {
        line(`${title}... failed`)
        throw err
      } finally {
        current = undefined
      }
    },
    progress(status) {
      if (current !== undefined && status !== last) line(`${current}... ${status}`)
      last = status
    },
    warn(text) {
      line(text)
    },
  }
}
