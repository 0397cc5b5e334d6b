import { ApiClient } from '@tw/api'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort } from '../testing/etcd'
import { NodeCluster } from '../testing/node-cluster'
import { until as poll } from '../testing/until'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 1000)

// Debian's Prometheus (`apt-get install prometheus`) scraping five real node processes (one
// etcd, one PostgreSQL database; no chain, no keys), then the project's metrics read back through
// Prometheus's query API. The repository's alert rules (monitoring/prometheus/alerts.yml) are
// loaded too, so a rule Prometheus cannot evaluate fails here. Deadlines are generous: the
// machine has two cores and may be running another cluster spec.

const REPO = path.resolve(__dirname, '..', '..', '..', '..')
const ALERTS = path.join(REPO, 'monitoring', 'prometheus', 'alerts.yml')

function prometheusBinary(): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter).concat('/usr/bin')) {
    const p = path.join(dir, 'prometheus')
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // next
    }
  }
  throw new Error('the prometheus binary is not installed: `apt-get install -y prometheus` (Debian package)')
}

interface Sample {
  metric: Record<string, string>
  value: [number, string]
}
interface QueryAnswer {
  status: string
  data: { resultType: string; result: Sample[] }
}

describe('prometheus scrapes five nodes', { timeout: 15 * 60_000 }, () => {
  let cluster: NodeCluster
  let prom: ChildProcess | null = null
  let promDir = ''
  let promUrl = ''
  const ids = [1, 2, 3, 4, 5]

  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(10_000) })
    const body = (await res.json()) as QueryAnswer
    assert.equal(body.status, 'success', JSON.stringify(body))
    return body.data.result
  }

  before(async () => {
    const bin = prometheusBinary()
    cluster = await NodeCluster.create(5)
    for (const id of ids) cluster.start(id)
    try {
      await until('all five nodes ready, each seeing five', 180_000, async () => {
        for (const id of ids) {
          const c = new ApiClient({ baseUrl: cluster.node(id).apiUrl, token: cluster.adminToken, timeoutMs: 10_000 })
          if ((await c.health('ready')).status !== 'ok') return null
          if ((await c.clusterStatus()).nodesUp !== 5) return null
        }
        return true
      })
    } catch (err) {
      process.stderr.write(cluster.logTails())
      throw err
    }

    promDir = mkdtempSync(path.join(tmpdir(), 'tw-prometheus-'))
    const targets = cluster.nodes.map((n) => new URL(n.apiUrl).host)
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(ALERTS)}`,
      'scrape_configs:',
      '  - job_name: threshold-wallet',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ${JSON.stringify(targets)}`,
      '',
    ].join('\n')
    writeFileSync(path.join(promDir, 'prometheus.yml'), config)
    const port = await freePort()
    promUrl = `http://127.0.0.1:${port}`
    const log = createWriteStream(path.join(promDir, 'prometheus.log'))
    prom = spawn(bin, [`--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    prom.stdout?.pipe(log)
    prom.stderr?.pipe(log)
    try {
      await until('prometheus ready', 120_000, async () => {
        if (prom?.exitCode !== null) throw new Error(`prometheus exited ${prom?.exitCode}`)
        return (await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(5000) })).ok
      })
    } catch (err) {
      process.stderr.write(promLog())
      throw err
    }
  })

  const promLog = () => {
    try {
      return `--- prometheus ---\n${readFileSync(path.join(promDir, 'prometheus.log'), 'utf8').split('\n').slice(-40).join('\n')}\n`
    } catch {
      return ''
    }
  }

  after(async (t) => {
    const failed = (t as unknown as { passed?: boolean }).passed === false
    if (failed) process.stderr.write(promLog() + (cluster ? cluster.logTails(40) : ''))
    if (prom && prom.exitCode === null) {
      const p = prom
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => p.kill('SIGKILL'), 15_000)
        p.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        p.kill('SIGTERM')
      })
    }
    if (promDir) rmSync(promDir, { recursive: true, force: true })
    if (cluster) await cluster.destroy()
  })

  it('reads mpc_active_nodes = 5 from each of the five nodes through the query API', async () => {
    const series = await until('five mpc_active_nodes series, each 5', 180_000, async () => {
      const r = await query('mpc_active_nodes')
      return r.length === 5 && r.every((s) => s.value[1] === '5') ? r : null
    }).catch(async (err) => {
      throw new Error(`${(err as Error).message}; last answer: ${JSON.stringify(await query('mpc_active_nodes').catch((e) => String(e)))}`)
    })
    assert.deepEqual(series.map((s) => s.metric.node_id).sort(), ['1', '2', '3', '4', '5'])
    for (const s of series) assert.equal(s.metric.job, 'threshold-wallet')
  })

  it('reads the threshold and sees every target up', async () => {
    const t = await query('mpc_consensus_threshold')
    assert.equal(t.length, 5)
    for (const s of t) assert.equal(s.value[1], '4')
    const up = await query('up{job="threshold-wallet"}')
    assert.equal(up.length, 5)
    for (const s of up) assert.equal(s.value[1], '1')
  })

  it('loads and evaluates the repository alert rules; no node alert is firing on a healthy cluster', async () => {
    const groups = await until('rule groups evaluated', 60_000, async () => {
      const res = await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(10_000) })
      const body = (await res.json()) as { data: { groups: { name: string; rules: { name: string; health: string; state?: string; lastEvaluation: string }[] }[] } }
      const gs = body.data.groups
      return gs.length > 0 && gs.every((g) => g.rules.every((r) => !r.lastEvaluation.startsWith('0001'))) ? gs : null
    })
    const names = groups.map((g) => g.name)
    for (const g of ['threshold-wallet.nodes', 'threshold-wallet.consensus', 'threshold-wallet.signing', 'threshold-wallet.dependencies']) {
      assert.ok(names.includes(g), `group ${g} loaded (got ${names.join(', ')})`)
    }
    for (const g of groups) for (const r of g.rules) assert.equal(r.health, 'ok', `rule ${r.name} evaluates`)
    const firing = groups
      .flatMap((g) => g.rules)
      .filter((r) => ['TwNodeDown', 'TwNodeMissingFromCluster', 'TwQuorumAtRisk', 'TwQuorumLost', 'TwNoNodeMetrics', 'TwNodeNotInEtcd', 'TwByzantineViolation'].includes(r.name))
      .filter((r) => r.state === 'firing')
      .map((r) => `${r.name}=${r.state}`)
    assert.deepEqual(firing, [])
  })
})
