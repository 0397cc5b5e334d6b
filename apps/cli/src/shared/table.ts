/** A column of {@link renderTable}: the header and how to read a cell from a row. */
export interface Column<T> {
  header: string
  get: (row: T) => string | number | boolean | null | undefined
}

/**
 * Renders rows as a plain, aligned text table (header, rule, rows). Empty cells print as `-`.
 *
 * @example
 * renderTable(nodes, [{ header: 'ID', get: (n) => n.nodeId }, { header: 'UP', get: (n) => n.up }])
 */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)))
  const line = (values: string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n')
}

function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-'
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  return String(v)
}

/** Renders `key: value` lines with aligned values. */
export function renderPairs(pairs: readonly [string, string | number | boolean | null | undefined][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${cell(v)}`).join('\n')
}
