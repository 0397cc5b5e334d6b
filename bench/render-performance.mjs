#!/usr/bin/env node
// Renders docs/PERFORMANCE.md from the JSON the benchmarks wrote into bench/results/
// (engine-bare*.json from the engine's cargo bench, devnet-*.json from bench/run.mjs).
// No figure is typed by hand: every number in the document comes from a results file.
//
//   node bench/render-performance.mjs
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { HISTORY_HEAD, historyRows } from './history.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const resultsDir = `${root}bench/results`

// Targets from the issues, keyed by operation name; `perParty` compares the per-party figure.
const TARGETS = {
  'ecdsa presignature': { text: '≤ 500 ms CPU per party', limit: 500, perParty: true },
  'ecdsa sign with presignature': { text: '≤ 5 ms', limit: 5 },
  'frost sign': { text: '≤ 5 ms', limit: 5 },
  'quic round trip (64 B frame)': { text: '≤ 0.2 ms p50', limit: 0.2 },
}

const fmt = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3))

const files = existsSync(resultsDir)
  ? readdirSync(resultsDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : []
const docs = files.map((f) => ({ f, doc: JSON.parse(readFileSync(`${resultsDir}/${f}`, 'utf8')) })).filter(({ doc }) => doc && Array.isArray(doc.operations))
const bareDocs = docs.filter(({ doc }) => doc.kind === 'engine-bare')
// Cluster runs (bench/run.mjs): the full run first, then the quick one.
const devnetDocs = docs.filter(({ doc }) => doc.kind === 'devnet').sort((a, b) => (a.doc.mode === 'full' ? -1 : 1) - (b.doc.mode === 'full' ? -1 : 1))

const ratio = (x) => (x ? `×${fmt(x)}` : '')
const mib = (kb) => (kb === null || kb === undefined ? '–' : `${(kb / 1024).toFixed(0)} MiB`)
const devnetSections = devnetDocs.map(({ f, doc }) => {
  const m = doc.machine
  const rows = doc.operations.map(
    (o) =>
      `| ${o.name} | ${o.samples ?? ''} | ${fmt(o.p50_ms)} | ${fmt(o.p99_ms)} | ${o.throughput_per_min === null || o.throughput_per_min === undefined ? '–' : fmt(o.throughput_per_min)} | ${o.target ?? ''} | ${o.met === undefined ? '' : o.met === null ? 'n/a' : o.met ? 'met' : '**missed**'} | ${ratio(o.cluster_over_bare)} | ${ratio(o.over_peer)} |`,
  )
  const nodes = Object.keys(doc.memory_rss_kb?.before ?? {})
  return [
    `### Cluster: five-node devnet (${doc.mode} run, file \`bench/results/${f}\`)`,
    '',
    `Machine: ${m.cores} × ${m.cpu_model}, ${Math.round(m.ram_kb / 1024 / 1024)} GiB RAM, ${m.os}; Node ${m.node}; ${m.rustc ?? 'rustc n/a'}; commit \`${(m.git_commit ?? 'n/a').slice(0, 12)}\`${m.git_dirty ? ' (work tree had changes)' : ''}; recorded ${m.date}; took ${doc.duration_s} s.`,
    `Load average (1/5/15 min) at the start ${doc.load_average.start.one} / ${doc.load_average.start.five} / ${doc.load_average.start.fifteen}, at the end ${doc.load_average.end.one} / ${doc.load_average.end.five} / ${doc.load_average.end.fifteen}: the machine is shared, so these figures are not final.`,
    '',
    '| operation | samples | p50 ms | p99 ms | per min | target | verdict | cluster ÷ bare | ÷ peer |',
    '|---|---:|---:|---:|---:|---|---|---:|---:|',
    ...rows,
    '',
    `Bare engine compared with: ${doc.bare ? `\`${doc.bare.file}\` (${doc.bare.mode}, ${doc.bare.bigint_backend}${doc.bare.reused ? ', reused from an earlier run' : ', run in the same benchmark'})` : 'none'}. ` +
      // `peers` (FROST and ECDSA) since the ECDSA peer was added; older files have only `peer`.
      `Peers: ${(() => {
        const peers = doc.peers ?? (doc.peer ? [doc.peer] : [])
        return peers.length
          ? peers.map((p) => `${p.library} ${p.version} (${p.licence}), ${p.api}; ${p.operations.map((o) => `${o.name} p50 ${fmt(o.p50_ms)} ms`).join(', ')}`).join('. ')
          : 'none'
      })()}.`,
    '',
    ...(doc.send_phases_p50_ms
      ? (() => {
          const kinds = Object.keys(doc.send_phases_p50_ms)
          const names = Object.keys(doc.send_phases_p50_ms[kinds[0]] ?? {})
          return [
            "**Where a send's time goes** (p50 of each phase over the sequential sends, from each transaction's state history):",
            '',
            `| phase | ${kinds.join(' | ')} |`,
            `|---|${kinds.map(() => '---:').join('|')}|`,
            ...names.map((n) => `| ${n} | ${kinds.map((k) => fmt(doc.send_phases_p50_ms[k][n])).join(' | ')} |`),
            '',
          ]
        })()
      : []),
    ...(doc.etcd_requests_per_send
      ? (() => {
          const kinds = Object.entries(doc.etcd_requests_per_send).filter(([, e]) => e)
          const row = (who, pick) => `| ${who} | ${kinds.map(([, e]) => fmt(pick(e).total)).join(' | ')} | ${kinds.map(([, e]) => top(pick(e).by)).join(' | ')} |`
          const top = (by) =>
            Object.entries(by)
              .slice(0, 5)
              .map(([n, v]) => `${n} ${fmt(v)}`)
              .join(', ')
          return [
            '**Round trips to etcd per send** (`mpc_etcd_requests_total` of every node before and after the sequential sends, ÷ sends; background loops included; the leader is the node that wrote the transaction records; a follower votes on every send and signs when chosen; the bench’s own polls of node 1, GET /transactions/:id about every 20 ms, are measured apart and left out):',
            '',
            `| node | ${kinds.map(([k, e]) => `${k} (${e.sends} sends)`).join(' | ')} | ${kinds.map(([k]) => `${k}: largest (op area)`).join(' | ')} |`,
            `|---|${kinds.map(() => '---:').join('|')}|${kinds.map(() => '---').join('|')}|`,
            row('leader', (e) => e.leader),
            row('a follower (mean)', (e) => e.follower_mean),
            `| whole cluster | ${kinds.map(([, e]) => fmt(e.cluster_total)).join(' | ')} | ${kinds.map(() => '').join(' | ')} |`,
            '',
          ]
        })()
      : []),
    '**Inputs per transaction** (Taproot, one send each):',
    '',
    '| inputs | send → broadcast ms | signing per signature ms (metric) | signing per transaction ms |',
    '|---:|---:|---:|---:|',
    ...doc.scaling.inputs.map((i) => `| ${i.inputs} | ${fmt(i.send_ms)} | ${fmt(i.sign_per_signature_ms)} | ${fmt(i.sign_per_tx_ms)} |`),
    '',
    '**Concurrent sends** (Taproot, `Promise.all`):',
    '',
    '| concurrent | p50 ms | p99 ms | sends / min | voting rounds / min | 409 retries |',
    '|---:|---:|---:|---:|---:|---:|',
    ...doc.scaling.concurrency.map(
      (c) => `| ${c.concurrent} | ${fmt(c.p50_ms)} | ${fmt(c.p99_ms)} | ${fmt(c.sends_per_min)} | ${fmt(c.voting_rounds_per_min)} | ${c.conflict_retries ?? 0} |`,
    ),
    '',
    '**Memory** (VmRSS per node process):',
    '',
    `| | ${nodes.join(' | ')} |`,
    `|---|${nodes.map(() => '---:').join('|')}|`,
    `| before | ${nodes.map((n) => mib(doc.memory_rss_kb.before[n])).join(' | ')} |`,
    `| after | ${nodes.map((n) => mib(doc.memory_rss_kb.after?.[n])).join(' | ')} |`,
    '',
    '**How each figure was taken:**',
    '',
    ...doc.operations.filter((o) => o.method).map((o) => `- *${o.name}*: ${o.method}.`),
    ...doc.method.map((x) => `- ${x}`),
    ...(doc.notes.length ? ['', '**Notes from the run:**', '', ...doc.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n')
})

// The soak (bench/history.mjs): one table of figures per history step.
const historyDocs = files.map((f) => ({ f, doc: JSON.parse(readFileSync(`${resultsDir}/${f}`, 'utf8')) })).filter(({ doc }) => doc?.kind === 'devnet-history')
const mibOf = (b) => (b === null || b === undefined ? '–' : `${(b / 1024 / 1024).toFixed(1)} MiB`)
const historySections = historyDocs.map(({ f, doc }) => {
  const m = doc.machine
  const cols = Object.keys(HISTORY_HEAD)
  const s = doc.summary
  return [
    `### Soak: ${doc.history.sends} finished sends of history (file \`bench/results/${f}\`)`,
    '',
    `Machine: ${m.cores} × ${m.cpu_model}, ${Math.round(m.ram_kb / 1024 / 1024)} GiB RAM; Node ${m.node}; commit \`${(m.git_commit ?? 'n/a').slice(0, 12)}\`${m.git_dirty ? ' (work tree had changes)' : ''}; recorded ${m.date}; took ${doc.duration_s} s; load average at the start ${doc.load_average.start.one}, at the end ${doc.load_average.end.one}.`,
    `Devnet: ${doc.devnet.nodes} nodes, TW_TX_RETENTION_S = ${doc.devnet.tx_retention_s}, etcd ${doc.devnet.etcd_flags}. **The history is synthetic** (see the method below): ${doc.history.sends} clones of real sends of the run, in ${doc.history.steps} steps; ${doc.history.measured_sends_per_step} real Taproot sends measured at each step.`,
    '',
    `| ${cols.map((c) => HISTORY_HEAD[c]).join(' | ')} |`,
    `|${cols.map(() => '---:').join('|')}|`,
    ...historyRows(doc).map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`),
    '',
    '**The retention after the last step** (every synthetic send is past the retention):',
    '',
    '| minutes after the last step | /tw/tx/ keys | partition keys /tw/n/ | all /tw/ keys | etcd in use | tx pruned (logs) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...doc.drain.map((d) => `| ${(d.at_s / 60).toFixed(1)} | ${d.keys.tx} | ${d.keys.partitions} | ${d.keys.all} | ${mibOf(d.db_in_use_bytes)} | ${d.pruned.transactions} |`),
    '',
    `Summary: send p50 at ${s.history_sends} ÷ at 0: ×${s.send_p50_ratio_last_over_first ?? '–'}; GET /transactions p50 ×${s.page_p50_ratio_last_over_first ?? '–'}; largest node RSS ×${s.rss_max_ratio_last_over_first ?? '–'}; etcd in use after compaction ${mibOf(s.etcd_in_use_after_compaction_first_bytes)} at 0, ${mibOf(s.etcd_in_use_after_compaction_last_bytes)} at ${s.history_sends}, ${mibOf(s.etcd_in_use_after_drain_bytes)} after the drain (file ${mibOf(s.etcd_total_after_drain_bytes)}, not defragmented); the retention removed ${s.retention_tx_pruned_per_min ?? '–'} transactions and ${s.retention_partition_keys_pruned_per_min ?? '–'} partition keys a minute; ${s.tx_records_left_in_etcd_past_retention} synthetic transaction records were still in etcd at the end.`,
    '',
    '**How each figure was taken:**',
    '',
    ...doc.method.map((x) => `- ${x}`),
    ...(doc.findings?.length ? ['', '**Findings:**', '', ...doc.findings.map((x) => `- ${x}`)] : []),
    ...(doc.notes.length ? ['', '**Notes from the run:**', '', ...doc.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n')
})

const sections = bareDocs.map(({ f, doc }) => {
  const rows = doc.operations.map((op) => {
    const t = TARGETS[op.name]
    const figure = t?.perParty ? op.per_party_p50_ms : op.p50_ms
    const verdict = t ? (figure <= t.limit ? 'met' : `missed (×${(figure / t.limit).toFixed(1)})`) : ''
    return `| ${op.name} | ${op.samples} | ${fmt(op.p50_ms)} | ${fmt(op.p99_ms)} | ${fmt(op.per_party_p50_ms)} | ${fmt(op.throughput_per_s)} | ${t ? t.text : ''} | ${verdict} |`
  })
  return [
    `### Bare engine: ${doc.kind} (${doc.mode} run, file \`bench/results/${f}\`)`,
    '',
    `Machine: ${doc.machine ?? `${doc.cpus} CPUs`}; big-integer backend: ${doc.bigint_backend ?? 'n/a'}; recorded ${doc.recorded_unix ? new Date(doc.recorded_unix * 1000).toISOString() : 'n/a'}.`,
    '',
    '| operation | samples | p50 ms | p99 ms | per-party p50 ms | ops/s | target | verdict |',
    '|---|---:|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
  ].join('\n')
})

const doc = `# Performance

Generated by \`node bench/render-performance.mjs\` from \`bench/results/*.json\`; do not edit by hand.

## Method

- **Bare protocol** (\`cargo bench -p tw-engine --bench protocols -- [--quick] --json FILE\`): all parties of a
  4-of-5 cluster in one process on one thread (round-based's simulator, no network), so the wall time of a
  run is the CPU time of all parties; *per party* divides by the number of parties. Aux info uses the
  shipped test primes (prime generation is not timed). The QUIC round trip is two transports on loopback
  exchanging 64-byte frames over mutually authenticated QUIC, after 20 warm-up exchanges.
- Figures are taken on whatever else the machine is doing at the time; on a busy 2-core machine they are
  pessimistic. In-process, the 4-party figures are the sum of all parties' work; in a cluster the parties
  run in parallel, so per-party is the better guide to a node's latency.
- **Soak** (\`npm run bench -- --history [N]\`, \`npm run bench:soak\`: \`bench/history.mjs\`): the devnet's history grown
  to N finished sends in steps (synthetic: clones of real sends written by the product's own code, see its
  method), and at each step real sends, etcd's size, the nodes' memory and the history API measured; then the
  retention watched as it prunes etcd.
- **Cluster** (\`npm run bench\`, \`npm run bench -- --quick\`: \`bench/run.mjs\`): the five-node devnet of
  \`threshold-wallet devnet up\` measured through the REST API (\`@tw/api\`) and the nodes' \`/metrics\`; the same
  run reads (quick) or reruns (full) the bare engine benchmark and times a peer library in-process. The
  details of each figure are listed under its table.

## Targets

From the engine (2), wallet (4) and consensus (5) issues; each verdict is computed from the figures.

| target | issue | where |
|---|---|---|
| presignature ≤ 0.5 s CPU per party | 2 | bare: ecdsa presignature (per-party column) |
| signing with a presignature ≤ 5 ms, FROST signing ≤ 5 ms in-process | 2 | bare |
| QUIC loopback round trip ≤ 0.2 ms p50 | 2 | bare |
| fast signing (presignature ready) p50 ≤ 25 ms per signature | 4 | cluster |
| FROST signing p50 ≤ 10 ms | 4 | cluster |
| send request → broadcast p50 ≤ 150 ms | 4 | cluster |
| presignature generation ≥ 60 per minute | 4 | cluster |
| voting round p50 ≤ 15 ms and ≥ 1 000 rounds per minute | 5 | cluster |

## Results

${[...devnetSections, ...historySections, ...sections].join('\n') || '_No results yet: run the benchmarks._'}
`
writeFileSync(`${root}docs/PERFORMANCE.md`, doc)
process.stderr.write(`wrote docs/PERFORMANCE.md from ${files.length} result file(s) (this machine: ${os.cpus().length} CPUs)\n`)
