import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CliError } from '../errors'
import { planChain, requestedChain } from './chain'
import { nodeEnv } from './nodes'
import { DevnetPaths, DevnetState } from './state'

const signet = { network: 'signet' as const, url: 'https://mempool.space/signet/api' }

test('requestedChain: --chain-url picks an outside chain, --network alone needs it (except regtest)', () => {
  assert.equal(requestedChain(undefined, undefined), undefined)
  assert.deepEqual(requestedChain('signet', 'https://mempool.space/signet/api/'), signet)
  assert.deepEqual(requestedChain(undefined, 'http://127.0.0.1:3002'), { network: 'regtest', url: 'http://127.0.0.1:3002' })
  assert.equal(requestedChain('regtest', undefined), 'embedded')
  assert.throws(
    () => requestedChain('testnet4', undefined),
    (e: CliError) => e.code === 'CHAIN_URL_REQUIRED' && /--network testnet4 needs --chain-url.*https:\/\/mempool\.space\/testnet4\/api/.test(e.message),
  )
})

test('planChain: kept when nothing is asked, switched only while no node runs', () => {
  assert.deepEqual(planChain(signet, undefined, [1, 2]), { chain: signet, changed: false })
  assert.deepEqual(planChain(undefined, signet, []), { chain: signet, changed: true })
  assert.deepEqual(planChain(signet, { ...signet }, [1]), { chain: signet, changed: false })
  assert.deepEqual(planChain(signet, 'embedded', []), { chain: undefined, changed: true })
  assert.throws(
    () => planChain(undefined, signet, [3, 5]),
    (e: CliError) =>
      e.code === 'DEVNET_CHAIN_IN_USE' &&
      /nodes 3, 5 run against the embedded regtest chain; run `threshold-wallet devnet down` before switching to https:\/\/mempool\.space\/signet\/api \(signet\)/.test(e.message),
  )
})

test("nodeEnv: the outside chain is the nodes' TW_CHAIN_URL and TW_NETWORK", () => {
  const state = {
    version: 1,
    createdAt: new Date(0).toISOString(),
    clusterToken: 't',
    etcd: [{ name: 'etcd-1', clientPort: 2379, peerPort: 2380, pid: null }],
    database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
    nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: 8080 + id, quicPort: 9000 + id, pid: null })),
  } as DevnetState
  const env = nodeEnv({
    paths: new DevnetPaths('/d'),
    state,
    node: state.nodes[0],
    databaseUrl: 'postgres://h/x',
    chainUrl: signet.url,
    network: 'signet',
    passphrase: 'p',
    logLevel: 'log',
  })
  assert.equal(env.TW_CHAIN_URL, signet.url)
  assert.equal(env.TW_NETWORK, 'signet')
})
