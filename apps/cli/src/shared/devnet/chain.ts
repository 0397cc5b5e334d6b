import { CliError, EXIT_USAGE } from '../errors'
import type { ExternalChainState } from './state'

/** Networks a devnet can run on: its embedded regtest chain, or an outside Esplora. */
export const DEVNET_NETWORKS = ['regtest', 'signet', 'testnet4'] as const
export type DevnetNetwork = (typeof DEVNET_NETWORKS)[number]

/** A public Esplora API base per outside network, for messages. */
export const PUBLIC_ESPLORA: Record<Exclude<DevnetNetwork, 'regtest'>, string> = {
  signet: 'https://mempool.space/signet/api',
  testnet4: 'https://mempool.space/testnet4/api',
}

/**
 * What `devnet up --network/--chain-url` asks for: `undefined` keeps the devnet's chain,
 * `'embedded'` the embedded regtest chain, else an outside chain.
 */
export function requestedChain(network: DevnetNetwork | undefined, chainUrl: string | undefined): ExternalChainState | 'embedded' | undefined {
  if (chainUrl) return { network: network ?? 'regtest', url: chainUrl.replace(/\/+$/, '') }
  if (network === undefined) return undefined
  if (network === 'regtest') return 'embedded'
  throw new CliError('CHAIN_URL_REQUIRED', `--network ${network} needs --chain-url: the Esplora API base of a ${network} chain, e.g. ${PUBLIC_ESPLORA[network]}`, EXIT_USAGE)
}

/**
 * The chain the devnet's nodes get: the requested one, or the recorded one when nothing is
 * requested. A change is refused while a node runs (a running node keeps the chain it started
 * with); `changed` says whether state.json must be written.
 */
export function planChain(
  current: ExternalChainState | undefined,
  requested: ExternalChainState | 'embedded' | undefined,
  runningNodes: number[],
): { chain: ExternalChainState | undefined; changed: boolean } {
  if (requested === undefined) return { chain: current, changed: false }
  const next = requested === 'embedded' ? undefined : requested
  const same = next?.url === current?.url && next?.network === current?.network
  if (same) return { chain: current, changed: false }
  if (runningNodes.length > 0) {
    throw new CliError(
      'DEVNET_CHAIN_IN_USE',
      `nodes ${runningNodes.join(', ')} run against ${describeChain(current)}; run \`threshold-wallet devnet down\` before switching to ${describeChain(next)}`,
    )
  }
  return { chain: next, changed: true }
}

export function describeChain(c: ExternalChainState | undefined): string {
  return c ? `${c.url} (${c.network})` : 'the embedded regtest chain'
}
