/** Capturing what a logger writes to stdout, for specs. */

/** What `fn` writes to stdout (the logger's stream), line by line. */
export async function stdoutOf(fn: () => unknown): Promise<string[]> {
  const lines: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => (lines.push(...String(chunk).split('\n').filter(Boolean)), true)) as typeof process.stdout.write
  try {
    await fn()
  } finally {
    process.stdout.write = write
  }
  return lines
}

/** The lines that are JSON objects (the test runner shares stdout). */
export function jsonLines(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      const v = JSON.parse(l) as unknown
      return v && typeof v === 'object' ? [v as Record<string, unknown>] : []
    } catch {
      return []
    }
  })
}
