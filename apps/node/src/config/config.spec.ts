import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig, redactConfig } from './config'

const valid = {
  TW_NODE_ID: '1',
  TW_API_PORT: '8081',
  TW_QUIC_LISTEN: '127.0.0.1:9001',
  TW_QUIC_PEERS: '2=127.0.0.1:9002,3=127.0.0.1:9003,4=127.0.0.1:9004,5=127.0.0.1:9005',
  TW_CA_CERT: '/certs/ca.crt',
  TW_NODE_CERT: '/certs/node-1.crt',
  TW_NODE_KEY: '/certs/node-1.key',
  TW_KEYSTORE_DIR: '/data/keystore',
  TW_KEYSTORE_PASSPHRASE: 'correct horse',
  TW_ETCD_ENDPOINTS: 'http://127.0.0.1:2379,http://127.0.0.1:22379',
  TW_DATABASE_URL: 'postgres://tw:secret@127.0.0.1:5432/tw',
}

const etcdTls = {
  TW_ETCD_ENDPOINTS: 'https://127.0.0.1:2379,https://127.0.0.1:22379',
  TW_ETCD_CA: '/certs/etcd-ca.crt',
  TW_ETCD_CERT: '/certs/etcd-node-1.crt',
  TW_ETCD_KEY: '/certs/etcd-node-1.key',
}

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.problems
  }
  assert.fail('expected a ConfigError')
}

describe('loadConfig', () => {
  it('parses a valid environment with defaults', () => {
    const c = loadConfig(valid)
    assert.equal(c.nodeId, 1)
    assert.equal(c.clusterSize, 5)
    assert.equal(c.threshold, 4)
    assert.equal(c.env, 'development')
    assert.equal(c.api.host, '127.0.0.1')
    assert.equal(c.api.advertisedUrl, 'http://127.0.0.1:8081')
    assert.deepEqual(c.quic.peers, { '2': '127.0.0.1:9002', '3': '127.0.0.1:9003', '4': '127.0.0.1:9004', '5': '127.0.0.1:9005' })
    assert.deepEqual(c.etcd.endpoints, ['http://127.0.0.1:2379', 'http://127.0.0.1:22379'])
    assert.equal(c.insecureTestPrimes, false)
    assert.equal(c.logLevel, 'log')
    assert.equal(c.txRetentionS, 86400)
  })

  it("TW_TX_RETENTION_S: a finished transaction's time in etcd, 60 s at least", () => {
    assert.equal(loadConfig({ ...valid, TW_TX_RETENTION_S: '3600' }).txRetentionS, 3600)
    assert.ok(problemsOf({ ...valid, TW_TX_RETENTION_S: '10' }).some((p) => p.includes('TW_TX_RETENTION_S')))
    assert.ok(problemsOf({ ...valid, TW_TX_RETENTION_S: 'a day' }).some((p) => p.includes('TW_TX_RETENTION_S')))
  })

  it('names every bad or missing variable in one error', () => {
    const problems = problemsOf({
      TW_NODE_ID: 'one',
      TW_API_PORT: '70000',
      TW_QUIC_LISTEN: 'nowhere',
      TW_QUIC_PEERS: '2=127.0.0.1:9002,x',
      TW_ETCD_ENDPOINTS: 'ftp://etcd',
      TW_ENV: 'staging',
      TW_INSECURE_TEST_PRIMES: 'maybe',
      TW_LOG_LEVEL: 'loud',
    })
    const text = problems.join('\n')
    for (const name of [
      'TW_NODE_ID',
      'TW_API_PORT',
      'TW_QUIC_LISTEN',
      'TW_QUIC_PEERS',
      'TW_CA_CERT',
      'TW_NODE_CERT',
      'TW_NODE_KEY',
      'TW_KEYSTORE_DIR',
      'TW_KEYSTORE_PASSPHRASE',
      'TW_ETCD_ENDPOINTS',
      'TW_DATABASE_URL',
      'TW_ENV',
      'TW_INSECURE_TEST_PRIMES',
      'TW_LOG_LEVEL',
    ]) {
      assert.match(text, new RegExp(name), `${name} should be named in:\n${text}`)
    }
    assert.doesNotMatch(text, /TW_THRESHOLD|TW_CLUSTER_SIZE|TW_API_HOST/)
  })

  it('spools audit entries under the keystore directory unless TW_AUDIT_SPOOL_DIR says where', () => {
    assert.equal(loadConfig(valid).audit.spoolDir, '/data/keystore/audit-spool')
    assert.equal(loadConfig({ ...valid, TW_AUDIT_SPOOL_DIR: ' ' }).audit.spoolDir, '/data/keystore/audit-spool')
    assert.equal(loadConfig({ ...valid, TW_AUDIT_SPOOL_DIR: '/var/lib/tw/audit' }).audit.spoolDir, '/var/lib/tw/audit')
  })

  it('requires exactly one keystore secret', () => {
    assert.match(problemsOf({ ...valid, TW_KEYSTORE_KEY_FILE: '/k' }).join(), /exactly one/)
    assert.match(problemsOf({ ...valid, TW_KEYSTORE_PASSPHRASE: '' }).join(), /exactly one/)
  })

  it('refuses insecure test primes in production', () => {
    const problems = problemsOf({ ...valid, TW_ENV: 'production', TW_INSECURE_TEST_PRIMES: 'true' })
    assert.match(problems.join(), /TW_INSECURE_TEST_PRIMES/)
    assert.equal(loadConfig({ ...valid, TW_INSECURE_TEST_PRIMES: 'true' }).insecureTestPrimes, true)
  })

  it('refuses the Byzantine drill and regtest in production; parses drill behaviours elsewhere', () => {
    const prod = { ...valid, ...etcdTls, TW_ENV: 'production', TW_NETWORK: 'mainnet' }
    assert.equal(loadConfig(prod).drill.enabled, false)
    assert.match(problemsOf({ ...prod, TW_BYZANTINE: 'corrupt-share' }).join(), /drill mode\) are refused when TW_ENV=production/)
    assert.match(problemsOf({ ...prod, TW_BYZANTINE_DRILL: 'true' }).join(), /refused when TW_ENV=production/)
    assert.match(problemsOf({ ...prod, TW_NETWORK: 'regtest' }).join(), /TW_NETWORK=regtest is refused/)
    assert.match(problemsOf({ ...valid, TW_BYZANTINE: 'corrupt-share,steal-coins' }).join(), /"steal-coins" is not a drill behaviour/)
    const drill = loadConfig({ ...valid, TW_BYZANTINE: 'corrupt-share, delay,corrupt-share' })
    assert.deepEqual(drill.drill, { enabled: true, behaviours: ['corrupt-share', 'delay'] })
  })

  it('reads the wallet settings: network, chain, policy', () => {
    const [a, b] = ['bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', 'bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6']
    const c = loadConfig({ ...valid, TW_CHAIN_URL: 'http://127.0.0.1:3002/', TW_POLICY_DENY: `${a}, ${b}`, TW_POLICY_MAX_FEE_RATE: '50' })
    assert.deepEqual(c.chain, { network: 'regtest', url: 'http://127.0.0.1:3002', confirmations: 1, authHeader: null, maxConcurrency: 4 })
    const paid = loadConfig({ ...valid, TW_CHAIN_URL: 'https://esplora.example/api', TW_CHAIN_AUTH_HEADER: 'Authorization: Bearer k3y-s3cret', TW_CHAIN_MAX_CONCURRENCY: '2' })
    assert.deepEqual(paid.chain.authHeader, { name: 'Authorization', value: 'Bearer k3y-s3cret' })
    assert.equal(paid.chain.maxConcurrency, 2)
    assert.doesNotMatch(JSON.stringify(redactConfig(paid)), /k3y-s3cret/)
    const bad = problemsOf({ ...valid, TW_CHAIN_AUTH_HEADER: 'just-a-s3cret-key' }).join()
    assert.match(bad, /TW_CHAIN_AUTH_HEADER must be "Header-Name: value"/)
    assert.doesNotMatch(bad, /s3cret/, 'a malformed header value is not echoed')
    assert.deepEqual(c.policy.deny, [a, b])
    // Every list entry must be an address of the node's network (they are compared as output scripts).
    assert.match(problemsOf({ ...valid, TW_POLICY_DENY: `${a},bcrt1qnotanaddress` }).join(), /TW_POLICY_DENY: bcrt1qnotanaddress is not a regtest address/)
    assert.match(problemsOf({ ...valid, TW_POLICY_ALLOW: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }).join(), /TW_POLICY_ALLOW: .* is not a regtest address/)
    assert.equal(c.policy.maxFeeRate, 50)
    assert.match(problemsOf({ ...valid, TW_POLICY_MIN_FEE_RATE: '60', TW_POLICY_MAX_FEE_RATE: '50' }).join(), /MIN_FEE_RATE must be <=/)
    // Below 1 sat/vB where the chain relays it (Bitcoin Core 29.1+: 0.1 sat/vB), never below that.
    assert.equal(loadConfig({ ...valid, TW_POLICY_MIN_FEE_RATE: '0.1' }).policy.minFeeRate, 0.1)
    assert.equal(c.policy.minFeeRate, 1, 'default 1 sat/vB')
    assert.match(problemsOf({ ...valid, TW_POLICY_MIN_FEE_RATE: '0.05' }).join(), /TW_POLICY_MIN_FEE_RATE.*>= 0\.1/)
    assert.match(problemsOf({ ...valid, TW_POLICY_MIN_FEE_RATE: 'abc' }).join(), /TW_POLICY_MIN_FEE_RATE.*number/)
    assert.match(problemsOf({ ...valid, TW_CHAIN_URL: 'ftp://x' }).join(), /TW_CHAIN_URL/)
  })

  it('checks the peers against the cluster and the threshold against its size', () => {
    const problems = problemsOf({ ...valid, TW_QUIC_PEERS: '1=127.0.0.1:9001,2=127.0.0.1:9002', TW_THRESHOLD: '6' })
    assert.match(problems.join('\n'), /TW_QUIC_PEERS must name exactly the other nodes 2,3,4,5/)
    assert.match(problems.join('\n'), /TW_THRESHOLD must be <= TW_CLUSTER_SIZE/)
  })

  it('reads the etcd client certificate: all three files or none, https with them, required in production', () => {
    assert.equal(loadConfig(valid).etcd.tls, null)
    const c = loadConfig({ ...valid, ...etcdTls })
    assert.deepEqual(c.etcd.tls, { caPath: etcdTls.TW_ETCD_CA, certPath: etcdTls.TW_ETCD_CERT, keyPath: etcdTls.TW_ETCD_KEY })
    assert.deepEqual(c.etcd.endpoints, ['https://127.0.0.1:2379', 'https://127.0.0.1:22379'])
    assert.match(problemsOf({ ...valid, ...etcdTls, TW_ETCD_KEY: '' }).join(), /give all three or none \(missing TW_ETCD_KEY\)/)
    assert.match(problemsOf({ ...valid, TW_ETCD_CERT: etcdTls.TW_ETCD_CERT }).join(), /missing TW_ETCD_CA, TW_ETCD_KEY/)
    assert.match(
      problemsOf({ ...valid, ...etcdTls, TW_ETCD_ENDPOINTS: 'https://127.0.0.1:2379,http://127.0.0.1:22379' }).join(),
      /TW_ETCD_ENDPOINTS must all be https:\/\/ when .* \(got http:\/\/127\.0\.0\.1:22379\)/,
    )
    assert.match(problemsOf({ ...valid, TW_ETCD_ENDPOINTS: 'https://127.0.0.1:2379' }).join(), /https:\/\/ endpoints need the etcd client certificate/)
    const prod = { ...valid, TW_ENV: 'production', TW_NETWORK: 'mainnet' }
    assert.match(problemsOf(prod).join(), /TW_ETCD_CA, TW_ETCD_CERT and TW_ETCD_KEY are required when TW_ENV=production: plain-http etcd/)
    assert.equal(loadConfig({ ...prod, ...etcdTls }).etcd.tls?.certPath, etcdTls.TW_ETCD_CERT)
  })

  it('redacts secrets', () => {
    const text = JSON.stringify(redactConfig(loadConfig(valid)))
    assert.doesNotMatch(text, /correct horse|secret@/)
    assert.match(text, /<redacted>/)
  })
})
