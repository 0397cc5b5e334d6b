import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Where the message files live: `apps/cli/messages/<name>.md` (next to dist/ and src/). */
const MESSAGES_DIR = join(__dirname, '..', '..', 'messages')

/**
 * All user-facing text of one command (or of the shared layer), read from
 * `messages/<name>.md`. Each `# key` heading starts a message; its body runs to the next
 * heading. Tokens are `%s`, replaced in order.
 *
 * @example
 * const messages = Messages.load('keys.create')
 * messages.get('error.Failed', [keyId, reason])
 */
export class Messages {
  private constructor(
    readonly name: string,
    private readonly entries: ReadonlyMap<string, string>,
  ) {}

  static load(name: string): Messages {
    const text = readFileSync(join(MESSAGES_DIR, `${name}.md`), 'utf8')
    const entries = new Map<string, string>()
    let key: string | undefined
    let body: string[] = []
    const flush = (): void => {
      if (key !== undefined) entries.set(key, body.join('\n').trim())
    }
    for (const line of text.split(/\r?\n/)) {
      const m = /^# (\S+)\s*$/.exec(line)
      if (m) {
        flush()
        key = m[1]
        body = []
      } else {
        body.push(line)
      }
    }
    flush()
    return new Messages(name, entries)
  }

  /** The message `key` with `%s` tokens replaced in order; throws if the key is missing. */
  get(key: string, tokens: readonly (string | number)[] = []): string {
    const raw = this.entries.get(key)
    if (raw === undefined) throw new Error(`missing message ${key} in messages/${this.name}.md`)
    let i = 0
    return raw.replace(/%s/g, () => String(tokens[i++] ?? ''))
  }

  /** Lines of a message, for `examples` (one example per non-empty line). */
  lines(key: string): string[] {
    return this.get(key)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
  }
}
