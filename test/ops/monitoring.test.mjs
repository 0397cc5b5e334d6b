// monitoring/: promtool checks of the Prometheus config and alert rules (and their unit tests),
// and the Grafana dashboards' PromQL against the metric names the node registers.
//   node --test test/ops/
// promtool comes from Debian's `prometheus` package; this test installs nothing and FAILS
// (never skips) when it is missing.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DOCKER, loadYaml, MONITORING, nodeMetricNames, read, which } from './helpers.mjs'

const PROM = join(MONITORING, 'prometheus')

function promtool(...args) {
  return promtoolIn(PROM, ...args)
}

function promtoolIn(cwd, ...args) {
  const bin = which('promtool')
  assert.ok(bin, 'promtool is not installed: `apt-get install -y prometheus` (Debian package; add it to .ci/run)')
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8' })
  assert.equal(r.status, 0, `promtool ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r.stdout + r.stderr
}

describe('monitoring/prometheus', () => {
  it('promtool check config prometheus.yml', () => {
    // The etcd job's TLS files exist only inside the Prometheus container (docker-compose.yml
    // mounts them): promtool stats them, so check a copy pointing at stand-in files.
    const tmp = mkdtempSync(join(tmpdir(), 'tw-promtool-'))
    mkdirSync(join(tmp, 'etcd'))
    for (const f of ['ca.crt', 'client.crt', 'client.key']) writeFileSync(join(tmp, 'etcd', f), '')
    writeFileSync(join(tmp, 'prometheus.yml'), read(join(PROM, 'prometheus.yml')).replaceAll('/etc/prometheus/etcd/', `${tmp}/etcd/`))
    copyFileSync(join(PROM, 'alerts.yml'), join(tmp, 'alerts.yml'))
    assert.match(promtoolIn(tmp, 'check', 'config', 'prometheus.yml'), /SUCCESS/)
  })

  it('scrapes etcd over TLS with the prometheus client certificate that compose mounts', () => {
    const etcd = loadYaml(read(join(PROM, 'prometheus.yml'))).scrape_configs.find((j) => j.job_name === 'etcd')
    assert.equal(etcd.scheme, 'https')
    const compose = loadYaml(read(join(DOCKER, 'docker-compose.yml')))
    const mounts = compose.services.prometheus.volumes.filter((v) => typeof v === 'string')
    for (const [key, src] of [
      ['ca_file', 'etcd-ca.crt'],
      ['cert_file', 'etcd-prometheus.crt'],
      ['key_file', 'etcd-prometheus.key'],
    ]) {
      assert.ok(mounts.includes(`./certs/${src}:${etcd.tls_config[key]}:ro`), `${key} ${etcd.tls_config[key]} is mounted from ./certs/${src}`)
    }
  })

  it('promtool check rules alerts.yml', () => {
    assert.match(promtool('check', 'rules', 'alerts.yml'), /SUCCESS/)
  })

  it('promtool test rules alerts.test.yml (every alert fires on its scenario)', () => {
    assert.match(promtool('test', 'rules', 'alerts.test.yml'), /SUCCESS/)
  })

  it('has the required alerts, on real metric names', () => {
    const rules = loadYaml(read(join(PROM, 'alerts.yml'))).groups.flatMap((g) => g.rules)
    const exprOf = (name) => rules.find((r) => r.alert === name)?.expr ?? assert.fail(`alert ${name} missing`)
    assert.match(exprOf('TwNodeDown'), /up\{job="threshold-wallet"\} == 0/)
    assert.match(exprOf('TwNodeMissingFromCluster'), /mpc_active_nodes < 5/)
    assert.match(exprOf('TwQuorumAtRisk'), /mpc_active_nodes < mpc_consensus_threshold \+ 1/)
    assert.match(exprOf('TwByzantineViolation'), /increase\(mpc_byzantine_violations_total\[5m\]\) > 0/)
    assert.match(exprOf('TwPresignaturePoolLow'), /mpc_presignature_pool_size/)
    assert.match(exprOf('TwSigningLatencyHigh'), /histogram_quantile\(.*mpc_signature_duration_seconds_bucket/)
    for (const a of ['TwEtcdMemberDown', 'TwEtcdNoLeader', 'TwDatabaseDown', 'TwNodeNotInEtcd', 'TwEtcdDatabaseNearQuota']) exprOf(a)
    // Issue 17: certificate expiry, API denials, a send stuck in broadcast, chain backend errors.
    assert.match(exprOf('TwCertificateExpiringSoon'), /mpc_certificate_expiry_timestamp_seconds - time\(\)/)
    assert.match(exprOf('TwApiDenialsHigh'), /mpc_api_denied_total/)
    assert.match(exprOf('TwTransactionStuckInBroadcast'), /mpc_transaction_oldest_broadcast_age_seconds/)
    assert.match(exprOf('TwChainBackendErrors'), /mpc_chain_request_errors_total/)
    assert.match(exprOf('TwWebhookDeliveriesFailing'), /mpc_webhook_deliveries_total\{outcome="gave_up"\}/)
    // Every alert has a scenario in alerts.test.yml.
    const tested = new Set(
      loadYaml(read(join(PROM, 'alerts.test.yml')))
        .tests.flatMap((t) => t.alert_rule_test ?? [])
        .map((a) => a.alertname),
    )
    for (const r of rules) assert.ok(tested.has(r.alert), `alert ${r.alert} has no promtool scenario in alerts.test.yml`)
    const known = allowedMetricNames()
    for (const r of rules) for (const m of mpcNames(r.expr)) assert.ok(known.has(m), `alert ${r.alert} uses ${m}, which the node does not register`)
  })

  it('scrapes the five compose nodes under job threshold-wallet', () => {
    const cfg = loadYaml(read(join(PROM, 'prometheus.yml')))
    const job = cfg.scrape_configs.find((j) => j.job_name === 'threshold-wallet')
    assert.ok(job, 'job threshold-wallet')
    assert.equal(job.metrics_path ?? '/metrics', '/metrics')
    const targets = job.static_configs.flatMap((s) => s.targets).sort()
    const compose = loadYaml(read(join(DOCKER, 'docker-compose.yml')))
    const nodes = Object.keys(compose.services)
      .filter((n) => /^node\d+$/.test(n))
      .sort()
    assert.deepEqual(
      targets,
      nodes.map((n) => `${n}:${compose.services[n].environment.TW_API_PORT}`),
    )
  })
})

/** Node metric names plus the histogram series suffixes. */
function allowedMetricNames() {
  const names = new Set(nodeMetricNames())
  for (const n of [...names]) if (n.endsWith('_seconds')) for (const s of ['_bucket', '_sum', '_count']) names.add(n + s)
  return names
}
const mpcNames = (expr) => [...String(expr).matchAll(/\b(mpc_[a-z_]+)/g)].map((m) => m[1])

describe('monitoring/grafana', () => {
  const dir = join(MONITORING, 'grafana', 'dashboards')
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()

  it('has the five views', () => {
    assert.deepEqual(files, ['byzantine-consensus.json', 'cluster-overview.json', 'infrastructure.json', 'network.json', 'signature-performance.json'])
  })

  it('every dashboard parses and uses only metric names the node registers', () => {
    const known = allowedMetricNames()
    const uids = new Set()
    for (const f of files) {
      const d = JSON.parse(read(join(dir, f)))
      assert.ok(d.uid && d.title && Array.isArray(d.panels) && d.panels.length > 0, `${f}: uid, title, panels`)
      assert.ok(!uids.has(d.uid), `${f}: uid ${d.uid} is unique`)
      uids.add(d.uid)
      const exprs = []
      for (const p of d.panels) {
        assert.ok(p.type && p.title && p.gridPos, `${f}: panel ${p.id} has type, title, gridPos`)
        for (const t of p.targets ?? []) {
          assert.ok(t.expr, `${f}: panel "${p.title}" target ${t.refId} has an expr`)
          exprs.push(t.expr)
        }
      }
      for (const v of d.templating?.list ?? []) exprs.push(typeof v.query === 'string' ? v.query : (v.query?.query ?? ''))
      const used = exprs.flatMap(mpcNames)
      assert.ok(used.length > 0, `${f} queries project metrics`)
      const unknown = [...new Set(used.filter((m) => !known.has(m)))]
      assert.deepEqual(unknown, [], `${f} uses metric names the node does not register (apps/node/src/metrics/metrics.service.ts): ${unknown.join(', ')}`)
    }
  })

  it('provisions the Prometheus datasource the dashboards use, and the dashboards folder', () => {
    const ds = loadYaml(read(join(MONITORING, 'grafana/provisioning/datasources/prometheus.yml'))).datasources
    assert.equal(ds.length, 1)
    assert.equal(ds[0].type, 'prometheus')
    assert.equal(ds[0].url, 'http://prometheus:9090')
    for (const f of files) {
      const d = JSON.parse(read(join(dir, f)))
      for (const p of d.panels) assert.equal(p.datasource?.uid, ds[0].uid, `${f}: panel "${p.title}" uses datasource ${ds[0].uid}`)
    }
    const prov = loadYaml(read(join(MONITORING, 'grafana/provisioning/dashboards/threshold-wallet.yml'))).providers
    const compose = loadYaml(read(join(DOCKER, 'docker-compose.yml')))
    const mount = compose.services.grafana.volumes.find((v) => v.startsWith('../monitoring/grafana/dashboards:'))
    assert.ok(mount, 'grafana mounts the dashboards')
    assert.equal(mount.split(':')[1], prov[0].options.path, 'the provider reads where compose mounts the dashboards')
  })
})

describe('monitoring/alertmanager', () => {
  const AM = join(MONITORING, 'alertmanager')

  it('amtool check-config alertmanager.yml', () => {
    const bin = which('amtool')
    assert.ok(bin, 'amtool is not installed: `apt-get install -y prometheus-alertmanager` (Debian package; add it to .ci/run)')
    const r = spawnSync(bin, ['check-config', 'alertmanager.yml'], { cwd: AM, encoding: 'utf8' })
    assert.equal(r.status, 0, `amtool check-config exited ${r.status}\n${r.stdout}\n${r.stderr}`)
    assert.match(r.stdout + r.stderr, /SUCCESS/)
  })

  it('Prometheus sends alerts to the compose alertmanager, which mounts this config; inhibitions name real alerts', () => {
    const prom = loadYaml(read(join(PROM, 'prometheus.yml')))
    const targets = prom.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))
    assert.deepEqual(targets, ['alertmanager:9093'])
    const compose = loadYaml(read(join(DOCKER, 'docker-compose.yml')))
    const am = compose.services.alertmanager
    assert.ok(am, 'an alertmanager service')
    assert.ok(am.profiles.includes('monitoring'))
    assert.ok(am.volumes.includes('../monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro'))
    assert.ok([am.command].flat().includes('--config.file=/etc/alertmanager/alertmanager.yml'))
    const alerts = new Set(
      loadYaml(read(join(PROM, 'alerts.yml')))
        .groups.flatMap((g) => g.rules)
        .map((r) => r.alert),
    )
    const cfg = loadYaml(read(join(AM, 'alertmanager.yml')))
    for (const rule of cfg.inhibit_rules) {
      for (const m of [...rule.source_matchers, ...rule.target_matchers]) {
        const name = /^alertname="(\w+)"$/.exec(m)?.[1]
        assert.ok(name && alerts.has(name), `inhibit rule matcher ${m} names an alert of alerts.yml`)
      }
    }
  })
})
