import { ux } from '@oclif/core'
import type { Reporter } from './devnet'

/** A {@link Reporter} on stderr: ux.action progress lines and plain warning lines. */
export function stderrReporter(): Reporter {
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
    warn(line) {
      process.stderr.write(line + '\n')
    },
  }
}
