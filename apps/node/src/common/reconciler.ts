import { Logger } from '@nestjs/common'
import { errorMessage } from './async'

/** The same step error is logged again at most this often (an outage does not flood the log). */
const REPEAT_LOG_MS = 30_000

/**
 * Runs `step` every `intervalMs`, or sooner when {@link kick}ed; never two at once. A failed
 * step is logged at warn (the same message at most every 30 s) and counted through `onError`
 * (`mpc_step_errors_total`); the next step retries: every step reads the state afresh.
 */
export class Reconciler {
  private readonly log: Logger
  private running = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private kicked = false

  constructor(
    name: string,
    private readonly intervalMs: number,
    private readonly step: () => Promise<void>,
    private readonly onError: () => void = () => undefined,
  ) {
    this.log = new Logger(name)
  }

  private lastError: { message: string; at: number } | null = null

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  kick(): void {
    this.kicked = true
    this.wake?.()
  }

  async stop(): Promise<void> {
    this.running = false
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.kicked = false
      try {
        await this.step()
      } catch (err) {
        this.onError()
        const message = errorMessage(err)
        if (this.lastError?.message !== message || Date.now() - this.lastError.at > REPEAT_LOG_MS) {
          this.lastError = { message, at: Date.now() }
          this.log.warn(`step failed: ${message}`)
        }
      }
      if (!this.running) break
      if (this.kicked) continue
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.intervalMs)
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.wake = null
    }
  }
}
