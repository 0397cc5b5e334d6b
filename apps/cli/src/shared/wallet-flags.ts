import { Flags } from '@oclif/core'
import type { WalletType } from '@tw/api'
import { CliError, EXIT_USAGE } from './errors'
import { parseNodeUrl } from './flags'

export const WALLET_TYPES = ['segwit', 'taproot'] as const satisfies readonly WalletType[]

/** `--type segwit|taproot`: SegWit v0 (ECDSA key) or Taproot (Schnorr key). */
export const walletTypeFlag = (o: { summary: string; default: WalletType }) => Flags.option({ options: WALLET_TYPES, summary: o.summary, default: o.default })()

/** An optional node URL without a default (commands that pick the node themselves). */
export const optionalNodeFlag = Flags.custom<string>({
  summary: 'Base URL of the node to talk to.',
  helpValue: '<url>',
  parse: async (input) => parseNodeUrl(input),
})

/** `--chain-url`: an http(s) URL, no trailing slash. */
export const chainUrlFlag = Flags.custom<string>({
  helpValue: '<url>',
  parse: async (input) => {
    if (!/^https?:\/\/[^\s/]+/.test(input)) throw new CliError('BAD_CHAIN_URL', `--chain-url must be an http(s) URL, got "${input}"`, EXIT_USAGE)
    return input.replace(/\/+$/, '')
  },
})
