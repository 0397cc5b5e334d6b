import { CliError } from '../errors'
import { defaultNodeUrl } from '../flags'
import { readStateSync, urls } from './state'

/** The devnet's regtest chain URL: `explicit` (--chain-url), else the chain in the devnet's state file. */
export function devnetChainUrl(dir: string, explicit?: string, cwd: string = process.cwd()): string {
  if (explicit) return explicit
  let state
  try {
    state = readStateSync(dir, cwd)
  } catch (err) {
    throw new CliError('DEVNET_STATE_INVALID', (err as Error).message)
  }
  if (!state) throw new CliError('DEVNET_NOT_FOUND', `no devnet in ${dir}; start one with \`threshold-wallet devnet up\` or pass --chain-url`)
  if (state.externalChain?.network === 'regtest') return state.externalChain.url
  if (state.externalChain) {
    throw new CliError(
      'DEVNET_OUTSIDE_CHAIN',
      `the devnet in ${dir} runs on ${state.externalChain.network} (${state.externalChain.url}): there is no faucet or mining there; fund its addresses from a ${state.externalChain.network} faucet`,
    )
  }
  if (!state.regtest) throw new CliError('REGTEST_NOT_STARTED', `the devnet in ${dir} has no regtest chain yet; run \`threshold-wallet devnet up\``)
  return urls.chain(state.regtest)
}

/** The node to ask for addresses: `explicit` (--node), else node 1 of the devnet in `dir`, else the usual default. */
export function devnetNodeUrl(dir: string, explicit?: string, cwd: string = process.cwd()): string {
  if (explicit) return explicit
  try {
    const node1 = readStateSync(dir, cwd)?.nodes.find((n) => n.id === 1)
    if (node1) return urls.api(node1)
  } catch {
    // fall through to the usual default
  }
  return defaultNodeUrl()
}
