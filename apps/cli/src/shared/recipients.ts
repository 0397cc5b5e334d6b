import { MAX_RECIPIENTS, type RecipientRequest } from '@tw/api'
import { parseAmountSats } from './amounts'
import { CliError, EXIT_USAGE } from './errors'

/** One payment as the user typed it: an amount in satoshis, or "max" (a single payment only). */
export interface TypedRecipient {
  to: string
  amountSats: number | 'max'
}

function usage(message: string): CliError {
  return new CliError('INVALID_RECIPIENT', message, EXIT_USAGE)
}

/**
 * The payments of `send`: each `--to` is `<address>` (paid `--amount`) or `<address>:<sats>`;
 * a CSV file (`--csv`) adds one `address,sats` per line (blank lines, `#` comments and a
 * header line whose amount is not a number are skipped). `--amount` goes with exactly one bare
 * `--to`, and may be `max`. Every mistake is a usage error naming the flag or the line.
 */
export function parseRecipients(p: { to: string[]; amount?: string; csv?: { name: string; text: string } }): TypedRecipient[] {
  const out: TypedRecipient[] = []
  const bare = p.to.filter((t) => !t.includes(':'))
  if (p.amount !== undefined && (bare.length !== 1 || p.to.length !== 1 || p.csv)) {
    throw usage('--amount goes with exactly one --to <address>; for several payments write --to <address>:<sats> for each (or use --csv)')
  }
  for (const raw of p.to) {
    const t = raw.trim()
    const colon = t.lastIndexOf(':')
    const to = colon < 0 ? t : t.slice(0, colon).trim()
    if (!to) throw usage(`--to "${raw}": the address is missing`)
    if (colon < 0) {
      if (p.amount === undefined) throw usage(`--to ${to} has no amount: add --amount <sats> or write --to ${to}:<sats>`)
      out.push({ to, amountSats: p.amount.trim() === 'max' ? 'max' : parseAmountSats(p.amount) })
    } else {
      out.push({ to, amountSats: parseAmountSats(t.slice(colon + 1), `--to ${to}:<sats>`) })
    }
  }
  if (p.csv) {
    const lines = p.csv.text.split(/\r?\n/)
    let first = true
    for (const [n, line] of lines.entries()) {
      const text = line.trim()
      if (!text || text.startsWith('#')) continue
      const cells = text.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'))
      const where = `${p.csv.name} line ${n + 1}`
      if (cells.length < 2 || !cells[0]) throw usage(`${where}: expected "address,sats", got "${text}"`)
      // A header line ("address,amount") as the file's first line.
      const header = first && !/^\d/.test(cells[1])
      first = false
      if (header) continue
      out.push({ to: cells[0], amountSats: parseAmountSats(cells[1], where) })
    }
  }
  if (out.length === 0) throw usage('no payment given: --to <address> --amount <sats>, --to <address>:<sats> (repeatable) or --csv <file>')
  if (out.length > MAX_RECIPIENTS) throw usage(`${out.length} payments: one send makes at most ${MAX_RECIPIENTS}`)
  if (out.length > 1 && out.some((r) => r.amountSats === 'max')) throw usage('--amount max pays a single recipient')
  return out
}

/** The request's payment fields: `to` and `amountSats` for one payment, `recipients` for a batch. */
export function paymentFields(recipients: TypedRecipient[]): { to: string; amountSats: number | 'max' } | { recipients: RecipientRequest[] } {
  if (recipients.length === 1) return { to: recipients[0].to, amountSats: recipients[0].amountSats }
  return { recipients: recipients.map((r) => ({ to: r.to, amountSats: r.amountSats as number })) }
}
