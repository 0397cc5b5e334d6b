// Shared helpers of the ops checks (test/ops/*.test.mjs). Installs nothing.
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const DOCKER = join(ROOT, 'docker')
export const MONITORING = join(ROOT, 'monitoring')
export const read = (p) => readFileSync(p, 'utf8')

const requireFromRoot = createRequire(join(ROOT, 'package.json'))

/**
 * A YAML parser from node_modules: `yaml` if present, else `js-yaml` (installed by `npm ci`
 * as a dependency of @napi-rs/cli). Merge keys (`<<: *anchor`) are resolved here, the way
 * docker compose does, whichever parser answered.
 */
export function loadYaml(text) {
  let parsed
  try {
    const YAML = requireFromRoot('yaml')
    parsed = YAML.parse(text, { merge: true, maxAliasCount: -1 })
  } catch (err) {
    if (err?.code !== 'MODULE_NOT_FOUND') throw err
    let jsyaml
    try {
      jsyaml = requireFromRoot('js-yaml')
    } catch {
      throw new Error('no YAML parser in node_modules (neither `yaml` nor `js-yaml`): run `npm ci` at the repo root')
    }
    parsed = jsyaml.load(text)
  }
  return resolveMerges(parsed)
}

function resolveMerges(v) {
  if (Array.isArray(v)) return v.map(resolveMerges)
  if (v === null || typeof v !== 'object') return v
  const out = {}
  if ('<<' in v) {
    const sources = Array.isArray(v['<<']) ? v['<<'] : [v['<<']]
    // Earlier sources win over later ones; the mapping's own keys win over all.
    for (const s of [...sources].reverse()) Object.assign(out, resolveMerges(s))
  }
  for (const [k, val] of Object.entries(v)) if (k !== '<<') out[k] = resolveMerges(val)
  return out
}

/** `KEY` → value for `KEY=value` lines and, separately, every key named (commented or not). */
export function parseEnvExample(text) {
  const values = {}
  const documented = new Set()
  for (const line of text.split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (!m) continue
    documented.add(m[2])
    if (!m[1]) values[m[2]] = m[3]
  }
  return { values, documented }
}

/** The keys of `envSchema` in apps/node/src/config/config.ts (the node's variables). */
export function configVariables() {
  const src = read(join(ROOT, 'apps/node/src/config/config.ts'))
  const start = src.indexOf('const envSchema = z.object({')
  if (start < 0) throw new Error('envSchema not found in apps/node/src/config/config.ts')
  const end = src.indexOf('\n})', start)
  const body = src.slice(start, end)
  const names = [...body.matchAll(/^\s{2}(TW_[A-Z0-9_]+):/gm)].map((m) => m[1])
  if (names.length < 10) throw new Error(`only ${names.length} variables parsed from envSchema`)
  return names
}

/** Metric names the node registers (`name: 'mpc_...'` in metrics.service.ts). */
export function nodeMetricNames() {
  // metrics.service.ts holds most; a few live beside what they measure (api-denials,
  // cert-reload, chain.client): every product file under apps/node/src is read.
  const files = readdirSync(join(ROOT, 'apps/node/src'), { recursive: true }).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
  const names = files.flatMap((f) => [...read(join(ROOT, 'apps/node/src', f)).matchAll(/name:\s*'(mpc_[a-z_]+)'/g)].map((m) => m[1]))
  if (!names.includes('mpc_active_nodes')) throw new Error('no metric names found under apps/node/src')
  return [...new Set(names)]
}

/** Absolute path of `tool` on PATH, or null. */
export function which(tool) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const p = join(dir, tool)
    try {
      accessSync(p, constants.X_OK)
      if (statSync(p).isFile()) return p
    } catch {
      // not here
    }
  }
  return null
}
