import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { writeCliConfig } from './cli-config'
import { CliError } from './errors'
import { defaultNodeUrl, FALLBACK_NODE_URL, parseNodeUrl } from './flags'
import { DevnetPaths, DevnetState, writeStateSync } from './devnet/state'

function stateWithNode1Port(port: number): DevnetState {
  return {
    version: 1,
    createdAt: new Date(0).toISOString(),
    clusterToken: 't',
    etcd: [],
    database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
    nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: port + id - 1, quicPort: 9000 + id, pid: null })),
  }
}

test('--node default: TW_NODE_URL, then the login node, then ./.devnet node 1, then the fallback', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tw-cli-flags-'))
  try {
    assert.equal(defaultNodeUrl({}, cwd), FALLBACK_NODE_URL)
    writeStateSync(new DevnetPaths('.devnet', cwd), stateWithNode1Port(18091))
    assert.equal(defaultNodeUrl({}, cwd), 'http://127.0.0.1:18091')
    assert.equal(defaultNodeUrl({ TW_NODE_URL: 'http://10.0.0.1:8080/' }, cwd), 'http://10.0.0.1:8080')
    writeStateSync(new DevnetPaths('other', cwd), stateWithNode1Port(18191))
    assert.equal(defaultNodeUrl({ TW_DEVNET_DIR: 'other' }, cwd), 'http://127.0.0.1:18191')
    // A saved login wins over the devnet in the working directory; TW_NODE_URL over both.
    const home = { XDG_CONFIG_HOME: join(cwd, 'config') }
    assert.equal(defaultNodeUrl(home, cwd), 'http://127.0.0.1:18091')
    writeCliConfig({ node: 'https://node1.example:8443', token: 'tw_x' }, home)
    assert.equal(defaultNodeUrl(home, cwd), 'https://node1.example:8443')
    assert.equal(defaultNodeUrl({ ...home, TW_NODE_URL: 'http://10.0.0.1:8080' }, cwd), 'http://10.0.0.1:8080')
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
})

test('parseNodeUrl accepts http(s) only', () => {
  assert.equal(parseNodeUrl('https://node.example:8443/'), 'https://node.example:8443')
  assert.throws(
    () => parseNodeUrl('ftp://x'),
    (e: CliError) => e.code === 'BAD_NODE_URL',
  )
  assert.throws(
    () => parseNodeUrl('not a url'),
    (e: CliError) => e.code === 'BAD_NODE_URL',
  )
})
