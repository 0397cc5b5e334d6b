// docker/: the compose file, .env.example and Dockerfile.node, checked without a Docker engine.
//   node --test test/ops/
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { configVariables, DOCKER, loadYaml, MONITORING, parseEnvExample, read, ROOT } from './helpers.mjs'

const composeText = read(join(DOCKER, 'docker-compose.yml'))
const compose = loadYaml(composeText)
const envExample = parseEnvExample(read(join(DOCKER, '.env.example')))
const services = compose.services ?? {}
const byPattern = (re) =>
  Object.keys(services)
    .filter((n) => re.test(n))
    .sort()
const nodes = byPattern(/^node\d+$/)
const etcds = byPattern(/^etcd\d+$/)
const profiles = (name) => services[name]?.profiles ?? []

/** compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} interpolation with .env.example values. */
function interpolate(s) {
  return String(s).replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_, name, op, arg) => {
    const v = envExample.values[name]
    if (v !== undefined && v !== '') return v
    if (op?.endsWith('-')) return arg
    throw new Error(`\${${name}} has no value in .env.example`)
  })
}

/** Every local path the compose file points to, as [path relative to docker/, where]. */
function localPaths() {
  const out = []
  for (const [name, svc] of Object.entries(services)) {
    if (svc.build) {
      const ctx = typeof svc.build === 'string' ? svc.build : svc.build.context
      out.push([ctx, `${name}.build.context`])
      if (svc.build.dockerfile) out.push([join(ctx, svc.build.dockerfile), `${name}.build.dockerfile`])
    }
    for (const f of [svc.env_file ?? []].flat()) out.push([typeof f === 'string' ? f : f.path, `${name}.env_file`])
    for (const v of svc.volumes ?? []) {
      const src = typeof v === 'string' ? v.split(':')[0] : v.type === 'bind' ? v.source : null
      if (src && /^[./]/.test(src)) out.push([src, `${name}.volumes`])
    }
  }
  for (const [name, s] of Object.entries(compose.secrets ?? {})) if (s.file) out.push([s.file, `secrets.${name}`])
  return out
}

/** Paths the operator creates (certs, keys, .env): they must be git-ignored, not committed. */
const GENERATED = [/^\.env$/, /^certs\//, /^secrets\//]

describe('docker/docker-compose.yml', () => {
  it('has five nodes, three etcd members and PostgreSQL, started by default', () => {
    assert.deepEqual(nodes, ['node1', 'node2', 'node3', 'node4', 'node5'])
    assert.deepEqual(etcds, ['etcd1', 'etcd2', 'etcd3'])
    assert.ok(services.postgres, 'a postgres service')
    for (const n of [...nodes, ...etcds, 'postgres']) assert.deepEqual(profiles(n), [], `${n} must not sit behind a profile`)
  })

  it('puts Prometheus and Grafana under the monitoring profile', () => {
    for (const n of ['prometheus', 'grafana']) {
      assert.ok(services[n], `a ${n} service`)
      assert.ok(profiles(n).includes('monitoring'), `${n} is in the monitoring profile`)
    }
  })

  it('puts the embedded regtest chain under the regtest profile: the node image, a bin the build makes, its data on a volume, published for the CLI', () => {
    const chain = services.chain
    assert.ok(chain, 'a chain service')
    assert.deepEqual(profiles('chain'), ['regtest'])
    assert.equal(chain.image, services.node1.image, 'runs from the node image')
    const [bin, script, ...args] = chain.command
    assert.equal(bin, 'node')
    assert.ok(existsSync(join(ROOT, script)), `${script} is missing from the repository`)
    const arg = (name) => args[args.indexOf(name) + 1]
    const port = arg('--port')
    assert.equal(arg('--host'), '0.0.0.0', 'listens on the compose network')
    assert.ok(
      chain.volumes.some((v) => v.endsWith(`:${arg('--data-dir')}`)),
      'its blocks on a volume',
    )
    assert.ok(
      chain.ports.some((p) => interpolate(p).endsWith(`:${port}:${port}`)),
      'published for the CLI (devnet fund/mine --chain-url)',
    )
    assert.ok(chain.healthcheck.test.join(' ').includes(`127.0.0.1:${port}/`), 'its health check asks its own port')
    assert.equal(chain.read_only, true)
    for (const n of nodes) assert.ok(!Object.keys(services[n].depends_on ?? {}).includes('chain'), `${n} starts without the regtest profile`)
    assert.match(read(join(DOCKER, '.env.example')), new RegExp(`TW_CHAIN_URL=http://chain:${port}\\b`), '.env.example says how the nodes reach it')
  })

  it("the chain service's command, run as a process (a free loopback port, a temporary data dir): regtest Esplora API, faucet and mining, blocks kept across a restart", async () => {
    const [, script, ...composeArgs] = services.chain.command
    const dataDir = mkdtempSync(join(tmpdir(), 'tw-compose-chain-'))
    const args = composeArgs.map((a, i) =>
      composeArgs[i - 1] === '--port' ? '0' : composeArgs[i - 1] === '--host' ? '127.0.0.1' : composeArgs[i - 1] === '--data-dir' ? dataDir : a,
    )
    const run = async () => {
      const proc = spawn(process.execPath, [join(ROOT, script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      let err = ''
      proc.stderr.on('data', (d) => (err += d))
      const line = await new Promise((resolve, reject) => {
        let out = ''
        const timer = setTimeout(() => reject(new Error(`no start line within 60 s; stderr: ${err}`)), 60_000)
        proc.stdout.on('data', (d) => {
          out += d
          if (out.includes('\n')) {
            clearTimeout(timer)
            resolve(JSON.parse(out.split('\n')[0]))
          }
        })
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)))
      })
      const stop = () => new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : (proc.once('exit', resolve), proc.kill('SIGTERM'))))
      return { url: line.url, stop }
    }
    try {
      const first = await run()
      try {
        const height = async (url) => Number(await (await fetch(`${url}/api/blocks/tip/height`)).text())
        assert.equal(await height(first.url), 101, 'a fresh chain: 101 blocks, the faucet coinbase mature')
        const to = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
        const funded = await fetch(`${first.url}/regtest/faucet`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ address: to, amountSats: 50_000 }),
        })
        assert.equal(funded.status, 200, await funded.clone().text())
        const { txid } = await funded.json()
        const mined = await fetch(`${first.url}/regtest/mine`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blocks: 1 }) })
        assert.equal(mined.status, 200)
        assert.equal(await height(first.url), 102)
        const status = await (await fetch(`${first.url}/api/tx/${txid}/status`)).json()
        assert.equal(status.confirmed, true)
        const utxos = await (await fetch(`${first.url}/api/address/${to}/utxo`)).json()
        assert.deepEqual(
          utxos.map((u) => [u.txid, u.value]),
          [[txid, 50_000]],
        )
      } finally {
        assert.equal(await first.stop(), 0, 'SIGTERM stops it cleanly')
      }
      // Restarted on the same data dir (the compose volume): the blocks are still there.
      const second = await run()
      try {
        assert.equal(Number(await (await fetch(`${second.url}/blocks/tip/height`)).text()), 102)
      } finally {
        await second.stop()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('forms one etcd cluster of the three members', () => {
    for (const n of etcds) {
      const args = [services[n].command].flat().join(' ')
      assert.match(args, new RegExp(`--name=${n}\\b`))
      for (const m of etcds) assert.ok(args.includes(`${m}=https://${m}:2380`), `${n}'s --initial-cluster names ${m}`)
    }
  })

  it('runs etcd TLS-only with client-certificate auth (clients and peers), and applies the ACL once before the nodes', () => {
    for (const n of etcds) {
      const args = [services[n].command].flat().join(' ')
      for (const flag of ['--client-cert-auth', '--peer-client-cert-auth', '--cert-file=', '--key-file=', '--trusted-ca-file=', '--peer-trusted-ca-file=']) {
        assert.ok(args.includes(flag), `${n} has ${flag}`)
      }
      assert.doesNotMatch(args, /http:\/\//, `${n} has no plain-http URL`)
      for (const flag of ['--auto-compaction-mode=periodic', '--auto-compaction-retention=1h', '--quota-backend-bytes=']) {
        assert.ok(args.includes(flag), `${n} has ${flag} (old revisions compacted, the backend under a quota)`)
      }
      assert.match(JSON.stringify(services[n].healthcheck.test), /https:\/\/127\.0\.0\.1:2379.*--cert=/)
    }
    const acl = services['etcd-acl']
    assert.ok(acl, 'an etcd-acl one-shot service')
    assert.deepEqual(acl.command, ['node', 'apps/node/dist/cluster/etcd-acl.js'])
    assert.equal(acl.environment.TW_ETCD_CERT, '/certs/etcd-root.crt')
    assert.ok(acl.volumes.includes('./certs/etcd-root.key:/certs/etcd-root.key:ro'))
    for (const n of nodes) {
      assert.equal(services[n].depends_on['etcd-acl']?.condition, 'service_completed_successfully', `${n} waits for the ACL`)
    }
    assert.ok(existsSync(join(ROOT, 'apps/node/src/cluster/etcd-acl.ts')))
  })

  it('references only local paths that exist (generated ones are git-ignored)', () => {
    const ignore = read(join(DOCKER, '.gitignore'))
      .split('\n')
      .map((l) => l.trim())
    const paths = localPaths()
    assert.ok(paths.length > 10, 'found the bind mounts, build and secrets')
    for (const [p, where] of paths) {
      const rel = relative(DOCKER, resolve(DOCKER, p)).replace(/\\/g, '/')
      if (GENERATED.some((re) => re.test(rel))) {
        const top = rel.includes('/') ? `${rel.split('/')[0]}/` : rel
        assert.ok(ignore.includes(top), `${where}: ${p} is generated by the operator and must be in docker/.gitignore (${top})`)
        continue
      }
      assert.ok(existsSync(resolve(DOCKER, p)), `${where}: ${p} does not exist (resolved against docker/)`)
    }
    // The monitoring mounts point at the repository's files.
    const mounted = paths.map(([p]) => relative(ROOT, resolve(DOCKER, p)).replace(/\\/g, '/'))
    for (const must of [
      'monitoring/prometheus/prometheus.yml',
      'monitoring/prometheus/alerts.yml',
      'monitoring/grafana/provisioning',
      'monitoring/grafana/dashboards',
      'docker/Dockerfile.node',
    ]) {
      assert.ok(mounted.includes(must), `compose references ${must}`)
    }
    assert.ok(statSync(join(MONITORING, 'grafana/provisioning/datasources')).isDirectory())
    assert.ok(statSync(join(MONITORING, 'grafana/provisioning/dashboards')).isDirectory())
  })

  it('uses only ${VARIABLES} that .env.example defines', () => {
    const used = new Set([...composeText.replace(/\$\$\{/g, '').matchAll(/\$\{([A-Za-z0-9_]+)/g)].map((m) => m[1]))
    assert.ok(used.size > 0)
    const missing = [...used].filter((v) => !(v in envExample.values))
    assert.deepEqual(missing, [], `variables used by docker-compose.yml but not set in docker/.env.example: ${missing.join(', ')}`)
  })

  it('gives every node its own id, peers by ip, its own certificate and key (read-only) and keystore secret', () => {
    const ips = Object.fromEntries(nodes.map((n) => [n, services[n].networks?.tw?.ipv4_address]))
    for (const n of nodes) {
      const svc = services[n]
      const id = n.slice(4)
      const env = svc.environment
      assert.equal(env.TW_NODE_ID, id, `${n} TW_NODE_ID`)
      assert.deepEqual([svc.env_file].flat(), ['.env'], `${n} reads .env`)
      assert.match(ips[n] ?? '', /^\d+\.\d+\.\d+\.\d+$/, `${n} has a fixed address (QUIC peers are ip:port)`)
      const port = env.TW_QUIC_LISTEN.split(':').pop()
      const expected = nodes
        .filter((m) => m !== n)
        .map((m) => `${m.slice(4)}=${ips[m]}:${port}`)
        .join(',')
      assert.equal(env.TW_QUIC_PEERS, expected, `${n} TW_QUIC_PEERS`)
      const vols = svc.volumes.filter((v) => typeof v === 'string' && v.startsWith('./certs/'))
      assert.deepEqual(
        vols.sort(),
        [
          `./certs/ca.crt:${env.TW_CA_CERT}:ro`,
          `./certs/node-${id}.crt:${env.TW_NODE_CERT}:ro`,
          `./certs/node-${id}.key:${env.TW_NODE_KEY}:ro`,
          `./certs/etcd-ca.crt:${env.TW_ETCD_CA}:ro`,
          `./certs/etcd-node-${id}.crt:${env.TW_ETCD_CERT}:ro`,
          `./certs/etcd-node-${id}.key:${env.TW_ETCD_KEY}:ro`,
        ].sort(),
        `${n} certificate mounts (its own etcd client certificate: CN node-${id})`,
      )
      assert.ok(
        env.TW_ETCD_ENDPOINTS.split(',').every((e) => e.startsWith('https://')),
        `${n} reaches etcd over TLS`,
      )
      const secret = svc.secrets?.find((s) => `/run/secrets/${s.target ?? s.source ?? s}` === env.TW_KEYSTORE_KEY_FILE)
      assert.ok(secret, `${n} TW_KEYSTORE_KEY_FILE is one of its secrets`)
      assert.equal(compose.secrets[secret.source].file, `./secrets/node-${id}.keystore-key`, `${n} keystore key file`)
      assert.equal(env.TW_KEYSTORE_PASSPHRASE, undefined, `${n}: no passphrase in the compose file`)
      assert.ok(
        svc.volumes.some((v) => typeof v === 'string' && v.endsWith(`:${env.TW_KEYSTORE_DIR}`)),
        `${n} keystore on a volume`,
      )
    }
  })

  it('documents every node variable of config.ts envSchema in .env.example', () => {
    const vars = configVariables()
    const missing = vars.filter((v) => !envExample.documented.has(v))
    assert.deepEqual(missing, [], `TW_ variables of config.ts missing from docker/.env.example: ${missing.join(', ')}`)
    const unknown = [...envExample.documented].filter((v) => v.startsWith('TW_') && !vars.includes(v) && !(v in envExample.values && /^TW_(IMAGE|PUBLISH_ADDR)$/.test(v)))
    assert.deepEqual(unknown, [], `.env.example documents TW_ variables the node does not read: ${unknown.join(', ')}`)
  })

  it('yields a configuration the node accepts for every node, and refuses it with TW_ENV=production', () => {
    const configJs = join(ROOT, 'apps/node/dist/config/config.js')
    assert.ok(existsSync(configJs), `${configJs} is missing: build first (\`npx tsc -b\`, done by \`npm ci\`)`)
    const { loadConfig } = createRequire(import.meta.url)(configJs)
    for (const n of nodes) {
      const env = { ...envExample.values }
      for (const [k, v] of Object.entries(services[n].environment)) env[k] = interpolate(v)
      const cfg = loadConfig(env)
      assert.equal(cfg.nodeId, Number(n.slice(4)))
      assert.equal(cfg.clusterSize, nodes.length)
      assert.equal(Object.keys(cfg.quic.peers).length, nodes.length - 1)
      assert.throws(() => loadConfig({ ...env, TW_ENV: 'production' }), /TW_NETWORK=regtest is refused/)
      assert.throws(() => loadConfig({ ...env, TW_ENV: 'production', TW_NETWORK: 'mainnet', TW_INSECURE_TEST_PRIMES: 'true' }), /TW_INSECURE_TEST_PRIMES=true is refused/)
    }
  })
})

describe('docker/Dockerfile.node', () => {
  const text = read(join(DOCKER, 'Dockerfile.node'))
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const stages = lines.filter((l) => /^FROM /i.test(l))
  const finalStage = lines.slice(lines.lastIndexOf(stages.at(-1)))

  it('is multi-stage: a Rust + Node build stage and a slim Node runtime', () => {
    assert.ok(stages.length >= 2)
    assert.ok(
      stages.some((l) => /rust/.test(l)),
      'a Rust toolchain stage',
    )
    assert.ok(
      lines.some((l) => /npm run build:native/.test(l)),
      'builds the addon',
    )
    assert.match(stages.at(-1), /node:\$\{NODE_VERSION\}-bookworm-slim/)
    assert.match(text, /ARG NODE_VERSION=20\./)
  })

  it('runs as a non-root user, checks /health/live and starts node apps/node/dist/main.js', () => {
    const user = finalStage.filter((l) => /^USER /i.test(l)).at(-1)
    assert.ok(user && !/^USER\s+(root|0)\b/i.test(user), 'final stage sets a non-root USER')
    assert.ok(
      finalStage.some((l) => /^HEALTHCHECK /.test(l) && l.includes('/health/live')),
      'HEALTHCHECK calls /health/live',
    )
    assert.equal(finalStage.filter((l) => /^CMD /.test(l)).at(-1), 'CMD ["node", "apps/node/dist/main.js"]')
    assert.doesNotMatch(text, /^\s*(COPY|ADD)\s+.*(certs|secrets|\.env\b|keystore-key|\.key\b)/m, 'no secret is copied into the image')
  })

  it('builds for amd64 and arm64: the addon of TARGETARCH, copied by a glob that matches that one file', () => {
    assert.match(text, /^ARG TARGETARCH$/m)
    assert.match(text, /amd64\) arch=x64 ;; arm64\) arch=arm64 ;;/)
    assert.match(text, /test -f "native\/addon\/tw-native\.linux-\$\{arch\}-gnu\.node"/)
    assert.ok(
      finalStage.some((l) => /^COPY --from=build \/src\/native\/addon\/tw-native\.linux-\*-gnu\.node /.test(l)),
      'the runtime copies whichever linux addon stage 1 built',
    )
    assert.doesNotMatch(text, /^COPY .*linux-x64-gnu\.node/m, 'no hard-coded x64 addon')
  })

  it('ships the regtest chain the regtest profile runs (its bin, dist and runtime dependencies)', () => {
    for (const p of ['apps/regtest/bin', 'apps/regtest/dist', 'apps/regtest/package.json']) {
      assert.ok(
        finalStage.some((l) => l.startsWith(`COPY --from=build /src/${p} `)),
        `runtime copies ${p}`,
      )
    }
    assert.ok(
      lines.some((l) => /npm ci --omit=dev .*--workspace @tw\/regtest/.test(l)),
      "@tw/regtest's production dependencies",
    )
  })

  it('copies only paths that exist in the repository (and, after the build, its outputs)', () => {
    for (const l of lines.filter((x) => /^COPY /.test(x))) {
      const parts = l
        .split(/\s+/)
        .slice(1)
        .filter((p) => !p.startsWith('--'))
      const from = /--from=(\S+)/.exec(l)?.[1]
      if (from && from !== 'build') continue // prod-deps and toolchain images
      for (const src of parts.slice(0, -1)) {
        const rel = from === 'build' ? src.replace(/^\/src\//, '') : src
        if (from === 'build' && src.startsWith('/usr/')) continue
        const exists = rel.includes('*')
          ? readdirSync(join(ROOT, dirname(rel))).some((f) => new RegExp(`^${basename(rel).replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`).test(f))
          : existsSync(join(ROOT, rel))
        assert.ok(exists, `Dockerfile.node: ${l}\n  ${rel} does not exist (build outputs need \`npm ci\` / \`npx tsc -b\` first)`)
      }
    }
  })
})
