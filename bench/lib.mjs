// Shared helpers of the benchmark harness: statistics, Prometheus text parsing, machine facts.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const now = () => performance.now()

/** Nearest-rank percentile (the same rule as native/engine/benches/protocols.rs). */
export function pct(samples, p) {
  if (!samples.length) return null
  const v = [...samples].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * v.length))
  return v[Math.min(rank, v.length) - 1]
}

export function stats(samples) {
  if (!samples.length) return { samples: 0, p50_ms: null, p99_ms: null, mean_ms: null }
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length
  return { samples: samples.length, p50_ms: pct(samples, 50), p99_ms: pct(samples, 99), mean_ms: mean }
}

/** One operation of an in-process benchmark (all parties on one thread): stats, per-party p50, throughput. */
export function opRow(name, parties, samples) {
  const st = stats(samples)
  return { name, parties, ...st, per_party_p50_ms: st.p50_ms / parties, throughput_per_s: 1000 / st.mean_ms }
}

/** Parses the Prometheus text format into [{ name, labels, value }]. */
export function parseProm(text) {
  const out = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

/**
 * A counter's increase on one node between two scrapes, per label set: `{ "area=tx op=get": 3, … }`
 * (labels in name order, the node's own `node_id` left out; series absent before count from 0).
 */
export function counterDelta(before, after, name) {
  const key = (s) =>
    Object.keys(s.labels)
      .filter((k) => k !== 'node_id') // every series of a node carries it
      .sort()
      .map((k) => `${k}=${s.labels[k]}`)
      .join(' ')
  const was = new Map(before.filter((s) => s.name === name).map((s) => [key(s), s.value]))
  const out = {}
  for (const s of after) {
    if (s.name !== name) continue
    const d = s.value - (was.get(key(s)) ?? 0)
    if (d > 0) out[key(s)] = d
  }
  return out
}

/**
 * One histogram summed over all scraped nodes, as the difference `after - before`, restricted to
 * series whose labels match `match`. Returns { count, sum, buckets: [[le, cumulative]] }.
 */
export function histogramDelta(before, after, name, match = {}) {
  const collect = (scrapes) => {
    const h = { count: 0, sum: 0, buckets: new Map() }
    for (const series of scrapes) {
      for (const s of series) {
        if (!s.name.startsWith(name + '_')) continue
        if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue
        if (s.name === `${name}_count`) h.count += s.value
        else if (s.name === `${name}_sum`) h.sum += s.value
        else if (s.name === `${name}_bucket`) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
          h.buckets.set(le, (h.buckets.get(le) ?? 0) + s.value)
        }
      }
    }
    return h
  }
  const a = collect(before)
  const b = collect(after)
  const les = [...new Set([...a.buckets.keys(), ...b.buckets.keys()])].sort((x, y) => x - y)
  return {
    count: b.count - a.count,
    sum: b.sum - a.sum,
    buckets: les.map((le) => [le, (b.buckets.get(le) ?? 0) - (a.buckets.get(le) ?? 0)]),
  }
}

/** Quantile from cumulative buckets, linear inside the bucket (what PromQL's histogram_quantile does). */
export function histogramQuantile(h, q) {
  if (!h.count) return null
  const rank = q * h.count
  let prevLe = 0
  let prevCount = 0
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(c - prevCount, 1e-9)
    }
    prevLe = le
    prevCount = c
  }
  return prevLe
}

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

export function loadAverage() {
  const [one, five, fifteen] = os.loadavg()
  return { one: +one.toFixed(2), five: +five.toFixed(2), fifteen: +fifteen.toFixed(2) }
}

export function machineInfo(root) {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8')
    } catch {
      return ''
    }
  })()
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
  return {
    cpu_model: model,
    cores: os.cpus().length,
    ram_kb: Math.round(os.totalmem() / 1024),
    node: process.version,
    rustc: run('rustc', ['--version']),
    os: `${os.type()} ${os.release()}`,
    git_commit: run('git', ['-C', root, 'rev-parse', 'HEAD']),
    git_dirty: (run('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
    date: new Date().toISOString(),
  }
}

/** VmRSS of a process in kB, or null when it is not running / not readable. */
export function rssKb(pid) {
  if (!pid) return null
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

export const fmt = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3))
