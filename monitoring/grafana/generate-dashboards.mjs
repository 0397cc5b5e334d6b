#!/usr/bin/env node
// Writes monitoring/grafana/dashboards/*.json (the five views). The JSON files are committed;
// edit this script and re-run it (`node monitoring/grafana/generate-dashboards.mjs`) rather than
// editing the JSON by hand. test/ops checks every mpc_ metric used exists in the node.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const out = join(dirname(fileURLToPath(import.meta.url)), 'dashboards')
const DS = { type: 'prometheus', uid: 'tw-prometheus' }

let nextId = 1
/** One panel; `targets` are [expr, legend] pairs. */
function panel(type, title, targets, { x = 0, y = 0, w = 12, h = 8, unit, description, min, thresholds, stack } = {}) {
  const p = {
    id: nextId++,
    type,
    title,
    datasource: DS,
    gridPos: { x, y, w, h },
    targets: targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, expr, legendFormat: legendFormat ?? '' })),
    fieldConfig: {
      defaults: {
        ...(unit ? { unit } : {}),
        ...(min !== undefined ? { min } : {}),
        ...(thresholds ? { thresholds: { mode: 'absolute', steps: thresholds } } : {}),
        ...(type === 'timeseries' ? { custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: stack ? 30 : 10, stacking: { mode: stack ? 'normal' : 'none' } } } : {}),
      },
      overrides: [],
    },
    options:
      type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'auto' }
        : type === 'table'
          ? { showHeader: true }
          : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
  }
  if (description) p.description = description
  return p
}

const red = (v) => ({ color: 'red', value: v })
const green = (v) => ({ color: 'green', value: v })
const yellow = (v) => ({ color: 'yellow', value: v })

function dashboard(uid, title, panels, tags = []) {
  return {
    uid,
    title,
    tags: ['threshold-wallet', ...tags],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        {
          name: 'node',
          label: 'node',
          type: 'query',
          datasource: DS,
          query: { query: 'label_values(mpc_consensus_threshold, node_id)', refId: 'node' },
          definition: 'label_values(mpc_consensus_threshold, node_id)',
          includeAll: true,
          multi: true,
          current: { selected: true, text: ['All'], value: ['$__all'] },
          refresh: 2,
          sort: 3,
        },
      ],
    },
    annotations: { list: [] },
    links: [{ title: 'threshold-wallet', type: 'dashboards', tags: ['threshold-wallet'], asDropdown: true }],
    panels,
  }
}

const N = 'node_id=~"$node"'
const dashboards = {
  'cluster-overview': () =>
    dashboard(
      'tw-cluster-overview',
      'threshold-wallet / Cluster overview',
      [
        panel('stat', 'Nodes up (scraped)', [['sum(up{job="threshold-wallet"})', '']], { x: 0, y: 0, w: 4, h: 4, thresholds: [red(null), yellow(4), green(5)] }),
        panel('stat', 'Active nodes (etcd, min over nodes)', [['min(mpc_active_nodes)', '']], { x: 4, y: 0, w: 4, h: 4, thresholds: [red(null), yellow(4), green(5)] }),
        panel('stat', 'Consensus threshold t', [['max(mpc_consensus_threshold)', '']], { x: 8, y: 0, w: 4, h: 4 }),
        panel('stat', 'Spare nodes before quorum loss', [['min(mpc_active_nodes) - max(mpc_consensus_threshold)', '']], {
          x: 12,
          y: 0,
          w: 4,
          h: 4,
          thresholds: [red(null), yellow(1), green(2)],
        }),
        panel('stat', 'Presignatures ready', [['sum(max by (signer_set) (mpc_presignature_pool_size))', '']], {
          x: 16,
          y: 0,
          w: 4,
          h: 4,
          thresholds: [red(null), yellow(1), green(10)],
        }),
        panel('stat', 'Byzantine violations (24 h)', [['sum(increase(mpc_byzantine_violations_total[24h]))', '']], { x: 20, y: 0, w: 4, h: 4, thresholds: [green(null), red(1)] }),
        panel('timeseries', 'Active nodes seen by each node', [[`mpc_active_nodes{${N}}`, 'node {{node_id}}']], { x: 0, y: 4, w: 12, h: 8, min: 0 }),
        panel('timeseries', 'Transactions by state (rate)', [['sum by (state) (rate(mpc_transactions_total[5m]))', '{{state}}']], {
          x: 12,
          y: 4,
          w: 12,
          h: 8,
          unit: 'ops',
          stack: true,
        }),
        panel('timeseries', 'Safe-prime sets ready per node', [[`mpc_prime_pool_size{${N}}`, 'node {{node_id}}']], { x: 0, y: 12, w: 12, h: 8, min: 0 }),
        panel('timeseries', 'DKG runs by outcome (1 h)', [['sum by (protocol, outcome) (increase(mpc_dkg_jobs_total[1h]))', '{{protocol}} {{outcome}}']], {
          x: 12,
          y: 12,
          w: 12,
          h: 8,
          min: 0,
        }),
      ],
      ['overview'],
    ),

  'byzantine-consensus': () =>
    dashboard(
      'tw-byzantine-consensus',
      'threshold-wallet / Byzantine consensus',
      [
        panel('stat', 'Violations (1 h)', [['sum(increase(mpc_byzantine_violations_total[1h]))', '']], { x: 0, y: 0, w: 6, h: 4, thresholds: [green(null), red(1)] }),
        panel('stat', 'Approved (1 h)', [['sum(increase(mpc_transactions_total{state="approved"}[1h]))', '']], { x: 6, y: 0, w: 6, h: 4 }),
        panel('stat', 'Rejected (1 h)', [['sum(increase(mpc_transactions_total{state="rejected"}[1h]))', '']], { x: 12, y: 0, w: 6, h: 4, thresholds: [green(null), yellow(1)] }),
        panel('stat', 'Failed (1 h)', [['sum(increase(mpc_transactions_total{state="failed"}[1h]))', '']], { x: 18, y: 0, w: 6, h: 4, thresholds: [green(null), red(1)] }),
        panel('timeseries', 'Violations by type', [['sum by (type) (increase(mpc_byzantine_violations_total[5m]))', '{{type}}']], { x: 0, y: 4, w: 12, h: 8, min: 0 }),
        panel('timeseries', 'Violations by reporting node', [[`sum by (node_id) (increase(mpc_byzantine_violations_total{${N}}[5m]))`, 'node {{node_id}}']], {
          x: 12,
          y: 4,
          w: 12,
          h: 8,
          min: 0,
        }),
        panel(
          'timeseries',
          'Vote latency p50 / p95 (proposal to decided vote)',
          [
            [`histogram_quantile(0.5, sum by (le) (rate(mpc_vote_duration_seconds_bucket{${N}}[5m])))`, 'p50'],
            [`histogram_quantile(0.95, sum by (le) (rate(mpc_vote_duration_seconds_bucket{${N}}[5m])))`, 'p95'],
          ],
          { x: 0, y: 12, w: 12, h: 8, unit: 's' },
        ),
        panel('timeseries', 'Votes decided per node (rate)', [[`sum by (node_id) (rate(mpc_vote_duration_seconds_count{${N}}[5m]))`, 'node {{node_id}}']], {
          x: 12,
          y: 12,
          w: 12,
          h: 8,
          unit: 'ops',
        }),
        panel('timeseries', 'Quorum margin (active nodes - t)', [[`mpc_active_nodes{${N}} - mpc_consensus_threshold{${N}}`, 'node {{node_id}}']], { x: 0, y: 20, w: 24, h: 8 }),
      ],
      ['consensus'],
    ),

  'signature-performance': () =>
    dashboard(
      'tw-signature-performance',
      'threshold-wallet / Signature performance',
      [
        panel(
          'timeseries',
          'Signing latency per input, p50 / p95 / p99 by protocol',
          [
            [`histogram_quantile(0.5, sum by (le, protocol) (rate(mpc_signature_duration_seconds_bucket{${N}}[5m])))`, 'p50 {{protocol}}'],
            [`histogram_quantile(0.95, sum by (le, protocol) (rate(mpc_signature_duration_seconds_bucket{${N}}[5m])))`, 'p95 {{protocol}}'],
            [`histogram_quantile(0.99, sum by (le, protocol) (rate(mpc_signature_duration_seconds_bucket{${N}}[5m])))`, 'p99 {{protocol}}'],
          ],
          { x: 0, y: 0, w: 12, h: 9, unit: 's' },
        ),
        panel(
          'timeseries',
          'p95 by mode (ecdsa presignature / ecdsa full / frost)',
          [[`histogram_quantile(0.95, sum by (le, mode) (rate(mpc_signature_duration_seconds_bucket{${N}}[5m])))`, '{{mode}}']],
          { x: 12, y: 0, w: 12, h: 9, unit: 's' },
        ),
        panel(
          'timeseries',
          'Signatures per second by protocol and mode',
          [[`sum by (protocol, mode) (rate(mpc_signature_duration_seconds_count{${N}}[5m]))`, '{{protocol}} {{mode}}']],
          { x: 0, y: 9, w: 12, h: 8, unit: 'ops' },
        ),
        panel(
          'timeseries',
          'Mean signing time',
          [[`sum by (protocol) (rate(mpc_signature_duration_seconds_sum{${N}}[5m])) / sum by (protocol) (rate(mpc_signature_duration_seconds_count{${N}}[5m]))`, '{{protocol}}']],
          { x: 12, y: 9, w: 12, h: 8, unit: 's' },
        ),
        panel('timeseries', 'Presignature pool by signer set', [['max by (signer_set) (mpc_presignature_pool_size)', 'signers {{signer_set}}']], {
          x: 0,
          y: 17,
          w: 12,
          h: 8,
          min: 0,
          stack: true,
        }),
        panel(
          'timeseries',
          'DKG latency p95 by protocol',
          [[`histogram_quantile(0.95, sum by (le, protocol) (rate(mpc_dkg_duration_seconds_bucket{${N}}[1h])))`, '{{protocol}}']],
          { x: 12, y: 17, w: 12, h: 8, unit: 's' },
        ),
      ],
      ['signing'],
    ),

  infrastructure: () =>
    dashboard(
      'tw-infrastructure',
      'threshold-wallet / Infrastructure',
      [
        panel('stat', 'etcd members up', [['sum(up{job="etcd"})', '']], { x: 0, y: 0, w: 6, h: 4, thresholds: [red(null), yellow(2), green(3)] }),
        panel('stat', 'etcd has leader (min)', [['min(etcd_server_has_leader)', '']], { x: 6, y: 0, w: 6, h: 4, thresholds: [red(null), green(1)] }),
        panel('stat', 'PostgreSQL up', [['max(pg_up)', '']], { x: 12, y: 0, w: 6, h: 4, thresholds: [red(null), green(1)] }),
        panel('stat', 'Nodes registered in etcd (max)', [['max(mpc_active_nodes)', '']], { x: 18, y: 0, w: 6, h: 4, thresholds: [red(null), yellow(4), green(5)] }),
        panel('timeseries', 'Node CPU', [[`rate(process_cpu_seconds_total{job="threshold-wallet",${N}}[5m])`, 'node {{node_id}}']], {
          x: 0,
          y: 4,
          w: 12,
          h: 8,
          unit: 'percentunit',
        }),
        panel('timeseries', 'Node resident memory', [[`process_resident_memory_bytes{job="threshold-wallet",${N}}`, 'node {{node_id}}']], {
          x: 12,
          y: 4,
          w: 12,
          h: 8,
          unit: 'bytes',
        }),
        panel('timeseries', 'Node.js event-loop lag p99', [[`nodejs_eventloop_lag_p99_seconds{${N}}`, 'node {{node_id}}']], { x: 0, y: 12, w: 12, h: 8, unit: 's' }),
        panel('timeseries', 'Node.js heap used', [[`nodejs_heap_size_used_bytes{${N}}`, 'node {{node_id}}']], { x: 12, y: 12, w: 12, h: 8, unit: 'bytes' }),
        panel('timeseries', 'etcd database size', [['etcd_mvcc_db_total_size_in_bytes', '{{instance}}']], { x: 0, y: 20, w: 8, h: 8, unit: 'bytes' }),
        panel('timeseries', 'etcd WAL fsync p99', [['histogram_quantile(0.99, sum by (le, instance) (rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])))', '{{instance}}']], {
          x: 8,
          y: 20,
          w: 8,
          h: 8,
          unit: 's',
        }),
        panel('timeseries', 'PostgreSQL connections', [['sum by (datname) (pg_stat_database_numbackends)', '{{datname}}']], { x: 16, y: 20, w: 8, h: 8 }),
      ],
      ['infrastructure'],
    ),

  network: () =>
    dashboard(
      'tw-network',
      'threshold-wallet / Network',
      [
        panel('table', 'Scrape targets', [['up', '']], { x: 0, y: 0, w: 24, h: 7 }),
        panel('timeseries', 'Peers each node sees in etcd', [[`mpc_active_nodes{${N}}`, 'node {{node_id}}']], { x: 0, y: 7, w: 12, h: 8, min: 0 }),
        panel('timeseries', 'Prometheus to node scrape time', [['scrape_duration_seconds{job="threshold-wallet"}', '{{instance}}']], { x: 12, y: 7, w: 12, h: 8, unit: 's' }),
        panel(
          'timeseries',
          'etcd peer round-trip p99',
          [['histogram_quantile(0.99, sum by (le, instance, To) (rate(etcd_network_peer_round_trip_time_seconds_bucket[5m])))', '{{instance}} to {{To}}']],
          { x: 0, y: 15, w: 12, h: 8, unit: 's' },
        ),
        panel(
          'timeseries',
          'etcd client gRPC traffic',
          [
            ['sum by (instance) (rate(etcd_network_client_grpc_received_bytes_total[5m]))', 'in {{instance}}'],
            ['sum by (instance) (rate(etcd_network_client_grpc_sent_bytes_total[5m]))', 'out {{instance}}'],
          ],
          { x: 12, y: 15, w: 12, h: 8, unit: 'Bps' },
        ),
        panel('timeseries', 'Node open file descriptors (sockets included)', [[`process_open_fds{job="threshold-wallet",${N}}`, 'node {{node_id}}']], { x: 0, y: 23, w: 12, h: 8 }),
        panel('timeseries', 'Node.js active handles', [[`nodejs_active_handles_total{${N}}`, 'node {{node_id}}']], { x: 12, y: 23, w: 12, h: 8 }),
      ],
      ['network'],
    ),
}

mkdirSync(out, { recursive: true })
for (const [name, make] of Object.entries(dashboards)) {
  nextId = 1
  writeFileSync(join(out, `${name}.json`), JSON.stringify(make(), null, 2) + '\n')
  console.log(`wrote ${join(out, `${name}.json`)}`)
}
