/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done() {
      signal?.removeEventListener('abort', done)
      clearTimeout(t)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Rejects with `new Error(message)` if `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
    timer.unref?.()
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Runs `write` until it succeeds, once a second, for at most `attempts` tries or until
 * `stopped()`; each failure is logged through `warn`. For statements that must not be lost to a
 * short etcd outage (a node's results).
 */
export async function writeWithRetry(
  what: string,
  write: () => Promise<void>,
  opts: { stopped: () => boolean; warn: (message: string) => void; attempts?: number },
): Promise<void> {
  const attempts = opts.attempts ?? 600
  for (let attempt = 0; ; attempt++) {
    try {
      await write()
      return
    } catch (err) {
      if (opts.stopped() || attempt >= attempts) throw err
      opts.warn(`writing ${what} failed (${errorMessage(err)}); retrying`)
      await sleep(1000)
    }
  }
}

/** `fn` over `items`, at most `size` at a time (each batch awaited before the next), results in order. */
export async function mapInBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))))
  return out
}

/** Message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
