import assert from 'node:assert/strict'
import { test } from 'node:test'
import { etcdArgs } from './etcd'
import { nodeEnv } from './nodes'
import { DevnetPaths, DevnetState } from './state'

const paths = new DevnetPaths('/data/.devnet')
const state: DevnetState = {
  version: 1,
  createdAt: new Date(0).toISOString(),
  clusterToken: 'tw-devnet-abc',
  etcd: [
    { name: 'etcd-1', clientPort: 2379, peerPort: 2380, pid: null },
    { name: 'etcd-2', clientPort: 3379, peerPort: 3380, pid: null },
    { name: 'etcd-3', clientPort: 4379, peerPort: 4380, pid: null },
  ],
  database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
  nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: 8080 + id, quicPort: 9000 + id, pid: null })),
}

test('nodeEnv gives a node its ports, every other node as a peer, and its own files', () => {
  const env = nodeEnv({ paths, state, node: state.nodes[1], databaseUrl: 'postgres://h/tw_devnet', chainUrl: 'http://127.0.0.1:3002', passphrase: 'pw', logLevel: 'log' })
  assert.equal(env.TW_NODE_ID, '2')
  assert.equal(env.TW_API_PORT, '8082')
  assert.equal(env.TW_API_URL_ADVERTISED, 'http://127.0.0.1:8082')
  assert.equal(env.TW_QUIC_LISTEN, '127.0.0.1:9002')
  assert.equal(env.TW_QUIC_PEERS, '1=127.0.0.1:9001,3=127.0.0.1:9003,4=127.0.0.1:9004,5=127.0.0.1:9005')
  assert.equal(env.TW_NODE_CERT, '/data/.devnet/certs/node-2.crt')
  assert.equal(env.TW_NODE_KEY, '/data/.devnet/certs/node-2.key')
  assert.equal(env.TW_CA_CERT, '/data/.devnet/certs/ca.crt')
  assert.equal(env.TW_KEYSTORE_DIR, '/data/.devnet/keystore/node-2')
  assert.equal(env.TW_ETCD_ENDPOINTS, 'https://127.0.0.1:2379,https://127.0.0.1:3379,https://127.0.0.1:4379')
  // Its own etcd client certificate (CN node-2 = its etcd user), from the etcd CA.
  assert.equal(env.TW_ETCD_CA, '/data/.devnet/certs/etcd-ca.crt')
  assert.equal(env.TW_ETCD_CERT, '/data/.devnet/certs/etcd-node-2.crt')
  assert.equal(env.TW_ETCD_KEY, '/data/.devnet/certs/etcd-node-2.key')
  assert.equal(env.TW_CLUSTER_SIZE, '5')
  assert.equal(env.TW_THRESHOLD, '4')
  assert.equal(env.TW_INSECURE_TEST_PRIMES, 'true')
  assert.equal(env.TW_ENV, 'development')
  assert.equal(env.TW_CHAIN_URL, 'http://127.0.0.1:3002')
  assert.equal(env.TW_NETWORK, 'regtest')
})

test('etcdArgs names all three members and the bootstrap state, with TLS and client-certificate auth', () => {
  const args = etcdArgs(paths, state.etcd[0], state.etcd, state.clusterToken, 'existing')
  const flag = (name: string): string => args[args.indexOf(name) + 1]
  assert.equal(flag('--name'), 'etcd-1')
  assert.equal(flag('--data-dir'), '/data/.devnet/etcd/etcd-1')
  assert.equal(flag('--listen-client-urls'), 'https://127.0.0.1:2379')
  assert.equal(flag('--initial-cluster'), 'etcd-1=https://127.0.0.1:2380,etcd-2=https://127.0.0.1:3380,etcd-3=https://127.0.0.1:4380')
  assert.equal(flag('--cert-file'), '/data/.devnet/certs/etcd-server.crt')
  assert.equal(flag('--key-file'), '/data/.devnet/certs/etcd-server.key')
  assert.equal(flag('--trusted-ca-file'), '/data/.devnet/certs/etcd-ca.crt')
  assert.equal(flag('--peer-trusted-ca-file'), '/data/.devnet/certs/etcd-ca.crt')
  assert.ok(args.includes('--client-cert-auth') && args.includes('--peer-client-cert-auth'))
  assert.equal(flag('--initial-cluster-state'), 'existing')
  assert.equal(flag('--initial-cluster-token'), 'tw-devnet-abc')
})
