import { Logger } from '@nestjs/common'
import { errorMessage } from './async'

/**
 * Runs `step` every `intervalMs`, or sooner when {@link kick}ed; never two at once. Errors
 * are logged at debug level and the next step retries: every step reads the state afresh.
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
  ) {
    this.log = new Logger(name)
  }

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
        this.log.debug(`step failed: ${errorMessage(err)}`)
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
