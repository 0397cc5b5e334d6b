import { sleep } from '../common/async'

/**
 * Polls `probe` every `everyMs` until it returns something truthy, for at most `ms`; throws
 * naming `what` (and the last error the probe threw) when time runs out. Tests only.
 */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await probe()
      if (v) return v
    } catch (err) {
      last = err
    }
    await sleep(everyMs)
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`)
}
