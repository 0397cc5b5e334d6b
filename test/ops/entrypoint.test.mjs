// The image's start command (`CMD ["node", "apps/node/dist/main.js"]`, WORKDIR /app = the repo
// root layout) run directly, without a Docker engine: with no configuration at all it must
// exit 1 and name the missing variables. Needs the build (`npm ci` runs `tsc -b`).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'
import { read, DOCKER, ROOT } from './helpers.mjs'

it('node apps/node/dist/main.js with an empty environment exits 1: invalid configuration, naming TW_NODE_ID', () => {
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(read(join(DOCKER, 'Dockerfile.node')))
  assert.ok(cmd, 'Dockerfile.node has an exec-form CMD')
  const [bin, ...args] = JSON.parse(cmd[1])
  assert.equal(bin, 'node')
  assert.ok(existsSync(join(ROOT, args[0])), `${args[0]} is missing: build first (\`npx tsc -b\`, run by \`npm ci\`)`)
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env: {}, encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.error, undefined)
  assert.equal(r.status, 1, `exit status\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.match(r.stderr, /invalid configuration/)
  assert.match(r.stderr, /TW_NODE_ID/)
  for (const v of ['TW_API_PORT', 'TW_QUIC_PEERS', 'TW_ETCD_ENDPOINTS', 'TW_DATABASE_URL']) assert.match(r.stderr, new RegExp(v))
})
