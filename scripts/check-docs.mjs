#!/usr/bin/env node
// Checks the operator docs against the code (run by test/ops/docs.test.mjs; needs `npm ci`):
//
// 1. every CLI invocation shown in code in docs/*.md and README.md (`threshold-wallet …`,
//    `npx threshold-wallet …`, `node apps/cli/bin/run.js …`) names an existing command (or
//    topic) and only flags that command has;
// 2. every `/api/v1/...` path mentioned anywhere in those files exists in the node's OpenAPI
//    document, with the HTTP method when one is written before it (`POST /api/v1/keys`);
// 3. relative links between the docs point at files that exist;
// 4. docs/openapi.json, docs/API.md and docs/CLI.md are what scripts/gen-docs.mjs generates now;
// 5. the reference table of docs/DEPLOYMENT.md ("### Every variable") names exactly the TW_
//    variables the node reads (`CONFIG_VARIABLES` of apps/node/src/config/config.ts, from the
//    build): none missing, none the node no longer reads;
// 6. every `curl` shown in code that calls an `/api/v1/` route carries an `Authorization`
//    header unless the node's own guard rule (`routeAccess`, apps/node/src/auth/roles.ts, with
//    the default TW_METRICS_TOKEN_REQUIRED=false) makes that route public;
// 7. the "Metrics used" section of monitoring/README.md names exactly the `mpc_*` metrics the
//    node registers (every `name: 'mpc_…'` under apps/node/src): none missing, none gone.
// 8. every route of the node's controllers is in the OpenAPI document, and the status its
//    handler answers on success (`@HttpCode`, else Nest's 201 for POST / 200) is one the
//    document lists for it (a POST without `@HttpCode(200)` answering 201 under a documented
//    200 is the drift this catches).
//
// Usage: node scripts/check-docs.mjs      (exit 1 and one line per problem)
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { generate, loadCli, loadOpenApi, loadRouteStatuses, ROOT } from './gen-docs.mjs'

const DOCS = join(ROOT, 'docs')
const NODE_DIST = join(ROOT, 'apps', 'node', 'dist')
const requireFromNode = createRequire(join(ROOT, 'apps', 'node', 'package.json'))
/** Where the node's variables are documented, and the heading of their reference table. */
export const CONFIG_DOC = 'docs/DEPLOYMENT.md'
export const CONFIG_TABLE_HEADING = '### Every variable'
const BINS = ['threshold-wallet', 'apps/cli/bin/run.js']
const SEPARATORS = new Set(['&&', '||', '|', ';', '\\'])

/** The checked files: docs/*.md and the root README.md, as `{ name, text }`. */
export function docFiles() {
  const names = readdirSync(DOCS)
    .filter((n) => n.endsWith('.md'))
    .map((n) => join(DOCS, n))
  return [...names, join(ROOT, 'README.md')].map((p) => ({ name: relative(ROOT, p), path: p, text: readFileSync(p, 'utf8') }))
}

/** Code in a Markdown text: fenced blocks' lines and inline code spans, with line numbers. */
export function codeSnippets(text) {
  const out = []
  let fence = null
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(```+|~~~+)/.exec(line)
    if (m) {
      fence = fence === null ? m[1] : line.trim().startsWith(fence) ? null : fence
      return
    }
    if (fence !== null) {
      out.push({ line: i + 1, code: line })
      return
    }
    for (const span of line.matchAll(/(`+)([^`]+?)\1/g)) out.push({ line: i + 1, code: span[2] })
  })
  return out
}

/** CLI invocations in one piece of code: `{ words, flags }` per invocation. */
export function invocations(code) {
  const out = []
  const tokens = code.split(/\s+/).filter(Boolean)
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i].replace(/^[("'$]+/, '')
    if (!BINS.some((b) => t === b || t.endsWith('/' + b))) continue
    const rest = []
    for (let j = i + 1; j < tokens.length; j++) {
      const tok = tokens[j]
      if (SEPARATORS.has(tok) || tok.startsWith('#')) break
      rest.push(tok.replace(/[)"'`]+$/, ''))
    }
    const words = []
    let k = 0
    while (k < rest.length && /^[a-z][a-z0-9-]*$/.test(rest[k])) words.push(rest[k++])
    const flags = rest.slice(k).filter((x) => /^--?[A-Za-z]/.test(x))
    out.push({ text: [t, ...rest].join(' '), words, flags, placeholder: rest.length > 0 && /^[<[]/.test(rest[0]) })
  }
  return out
}

/** Problems with the CLI invocations shown in `files` (see {@link docFiles}). */
export function checkCommands(cli, files) {
  const commands = new Map(cli.commands.map((c) => [c.id, c]))
  const topics = new Set([...Object.keys(cli.topics), ...cli.commands.filter((c) => c.id.includes(':')).map((c) => c.id.split(':')[0])])
  const problems = []
  let checked = 0
  for (const f of files) {
    for (const { line, code } of codeSnippets(f.text)) {
      for (const inv of invocations(code)) {
        if (inv.placeholder || (inv.words.length === 0 && inv.flags.length === 0)) continue
        checked++
        const where = `${f.name}:${line}: \`${inv.text}\``
        // The longest command id the leading words spell (`byzantine evidence verify` is three).
        let cmd
        for (let n = Math.min(inv.words.length, 3); n >= 1 && !cmd; n--) cmd = commands.get(inv.words.slice(0, n).join(':'))
        if (!cmd) {
          if (inv.words.length === 1 && topics.has(inv.words[0]) && inv.flags.length === 0) continue
          problems.push(`${where}: no command "${inv.words.slice(0, 2).join(' ')}"`)
          continue
        }
        const byName = new Map(cmd.flags.map((fl) => [fl.name, fl]))
        const byChar = new Map(cmd.flags.filter((fl) => fl.char).map((fl) => [fl.char, fl]))
        for (const raw of inv.flags) {
          const name = raw.replace(/=.*$/, '')
          if (name === '--help' || name === '-h') continue
          if (name.startsWith('--')) {
            const n = name.slice(2)
            const ok = byName.has(n) || (n.startsWith('no-') && byName.get(n.slice(3))?.allowNo)
            if (!ok) problems.push(`${where}: \`${cmd.usage}\` has no flag ${name}`)
          } else if (!byChar.has(name.slice(1))) {
            problems.push(`${where}: \`${cmd.usage}\` has no flag ${name}`)
          }
        }
      }
    }
  }
  return { problems, checked }
}

/** `/api/v1/...` mentions in a text, with the HTTP method written before them (if any). */
export function apiMentions(text) {
  const out = []
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/(?:\b(GET|POST|PUT|PATCH|DELETE|HEAD)\s+)?(?:https?:\/\/[^\s/`"']+)?(\/api\/v1(?:\/[A-Za-z0-9_\-{}:<>.…$]+)*)/g)) {
      let path = m[2].replace(/[.,:]+$/, '')
      if (path === '/api/v1' || /\.\.\.|…/.test(path)) continue
      out.push({ line: i + 1, method: m[1]?.toLowerCase() ?? null, path })
    }
  })
  return out
}

function pathMatches(docPath, specPath) {
  const a = docPath.split('/')
  const b = specPath.split('/')
  if (a.length !== b.length) return false
  return b.every((seg, i) => seg === a[i] || (/^\{\w+\}$/.test(seg) && a[i] !== ''))
}

/** Problems with the API paths mentioned in `files`. */
export function checkApiPaths(doc, files) {
  const specPaths = Object.keys(doc.paths ?? {})
  const problems = []
  let checked = 0
  for (const f of files) {
    for (const { line, method, path } of apiMentions(f.text)) {
      checked++
      const matches = specPaths.filter((p) => pathMatches(path, p))
      if (!matches.length) {
        problems.push(`${f.name}:${line}: ${path} is not in the OpenAPI document`)
        continue
      }
      if (method && !matches.some((p) => doc.paths[p][method])) problems.push(`${f.name}:${line}: ${method.toUpperCase()} ${path}: no such operation in the OpenAPI document`)
    }
  }
  return { problems, checked }
}

/** Relative Markdown links in `files` that point at nothing. */
export function checkLinks(files) {
  const problems = []
  for (const f of files) {
    f.text.split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1]
        if (/^[a-z]+:/.test(target)) continue
        if (!existsSync(join(dirname(f.path), target))) problems.push(`${f.name}:${i + 1}: link to ${target}, which does not exist`)
      }
    })
  }
  return problems
}

/** Generated files that differ from what gen-docs.mjs produces now. */
export async function checkGenerated(generated) {
  const files = generated ?? (await generate())
  const problems = []
  for (const [name, text] of Object.entries(files)) {
    const p = join(DOCS, name)
    if (!existsSync(p)) {
      problems.push(`docs/${name} is missing: run \`npm run docs\``)
      continue
    }
    const have = readFileSync(p, 'utf8')
    if (have === text) continue
    const a = have.split('\n')
    const b = text.split('\n')
    let n = 0
    while (n < a.length && n < b.length && a[n] === b[n]) n++
    problems.push(
      `docs/${name} is out of date (first difference at line ${n + 1}: have ${JSON.stringify(a[n] ?? '<end>')}, generator gives ${JSON.stringify(b[n] ?? '<end>')}): run \`npm run docs\``,
    )
  }
  return problems
}

/** The TW_ variables the node reads: `CONFIG_VARIABLES` of the built config.ts. */
export function loadConfigVariables() {
  const { CONFIG_VARIABLES } = requireFromNode(join(NODE_DIST, 'config', 'config.js'))
  if (!Array.isArray(CONFIG_VARIABLES) || CONFIG_VARIABLES.length === 0) throw new Error('apps/node/dist/config/config.js exports no CONFIG_VARIABLES')
  return CONFIG_VARIABLES
}

/** The TW_ names in the first column of `doc`'s reference table (under {@link CONFIG_TABLE_HEADING}), or null without one. */
export function documentedVariables(text) {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => l.trim() === CONFIG_TABLE_HEADING)
  if (start < 0) return null
  const names = new Set()
  for (const line of lines.slice(start + 1)) {
    if (/^#/.test(line)) break
    if (!line.startsWith('|')) continue
    for (const m of (line.split('|')[1] ?? '').matchAll(/`(TW_[A-Z0-9_]+)`/g)) names.add(m[1])
  }
  return names
}

/**
 * Problems with the reference table of the node's variables in `doc` (`{ name, text }`):
 * a variable in `variables` (what the node reads) missing from it, or a row naming one the
 * node does not read.
 */
export function checkConfigVariables(variables, doc) {
  const documented = documentedVariables(doc.text)
  if (!documented) return [`${doc.name}: no "${CONFIG_TABLE_HEADING}" table of the node's TW_ variables`]
  const read = new Set(variables)
  return [
    ...variables.filter((v) => !documented.has(v)).map((v) => `${doc.name}: ${v} (read by apps/node/src/config/config.ts) is missing from the "${CONFIG_TABLE_HEADING}" table`),
    ...[...documented].filter((v) => !read.has(v)).map((v) => `${doc.name}: the "${CONFIG_TABLE_HEADING}" table names ${v}, which the node does not read`),
  ]
}

/** Where the node's metrics are listed, and the heading of that section. */
export const METRICS_DOC = 'monitoring/README.md'
export const METRICS_HEADING = '## Metrics used'

/** The `mpc_*` metrics the node registers: every `name: 'mpc_…'` in apps/node/src (specs aside). */
export function loadNodeMetrics() {
  const src = join(ROOT, 'apps', 'node', 'src')
  const files = readdirSync(src, { recursive: true }).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
  const names = new Set(files.flatMap((f) => [...readFileSync(join(src, f), 'utf8').matchAll(/name:\s*'(mpc_[a-z_]+)'/g)].map((m) => m[1])))
  if (!names.has('mpc_active_nodes')) throw new Error('no mpc_ metrics found under apps/node/src: is the scanner broken?')
  return [...names].sort()
}

/** Problems with `doc`'s "Metrics used" section against `metrics` (what the node registers). */
export function checkMetrics(metrics, doc) {
  const lines = doc.text.split('\n')
  const start = lines.findIndex((l) => l.startsWith(METRICS_HEADING))
  if (start < 0) return [`${doc.name}: no "${METRICS_HEADING}" section`]
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l))
  const named = new Set(
    [
      ...lines
        .slice(start + 1, end < 0 ? undefined : end)
        .join('\n')
        .matchAll(/`(mpc_[a-z_]+)(?:\{[^}`]*\})?`/g),
    ].map((m) => m[1]),
  )
  const registered = new Set(metrics)
  return [
    ...metrics.filter((m) => !named.has(m)).map((m) => `${doc.name}: ${m} (registered by the node) is missing from "${METRICS_HEADING}"`),
    ...[...named].filter((m) => !registered.has(m)).map((m) => `${doc.name}: "${METRICS_HEADING}" names ${m}, which the node does not register`),
  ]
}

/** Whether a route is open without a token, by the node's own guard rule (default configuration). */
export function loadPublicRoute() {
  const { routeAccess } = requireFromNode(join(NODE_DIST, 'auth', 'roles.js'))
  return (method, path) => routeAccess(method.toUpperCase(), path, undefined, false).open === true
}

/** `curl` commands shown in code (fenced lines joined across trailing `\`), with line numbers. */
export function curlCommands(text) {
  const out = []
  let pending = null
  for (const { line, code } of codeSnippets(text)) {
    const joined = pending && pending.next === line ? { line: pending.line, code: `${pending.code} ${code}` } : { line, code }
    pending = null
    if (/\\\s*$/.test(joined.code)) {
      pending = { line: joined.line, code: joined.code.replace(/\\\s*$/, ''), next: line + 1 }
      continue
    }
    if (/(^|[\s;&|(`$])curl\s/.test(joined.code)) out.push(joined)
  }
  return out
}

/** Problems with `curl` calls to `/api/v1/` routes in `files` that send no Authorization header although the route needs a token. */
export function checkCurlAuth(files, isPublic) {
  const problems = []
  let checked = 0
  for (const f of files) {
    for (const { line, code } of curlCommands(f.text)) {
      // One check per curl call: `curl a && curl b` are two.
      for (const call of code.split(/(?=(?:^|[\s;&|(`$])curl\s)/).filter((c) => /curl\s/.test(c))) {
        const paths = [...call.matchAll(/(\/api\/v1\/[^\s"'`?#)]*)/g)].map((m) => m[1])
        if (!paths.length) continue
        checked++
        if (/-H\s*["']?authorization:/i.test(call)) continue
        const method = /(?:-X|--request)\s*["']?([A-Za-z]+)/.exec(call)?.[1] ?? (/\s(-d|--data[\w-]*)\s/.test(call) ? 'POST' : 'GET')
        for (const path of paths) {
          if (!isPublic(method, path)) problems.push(`${f.name}:${line}: \`curl … ${method.toUpperCase()} ${path}\` has no Authorization header (the route needs a token)`)
        }
      }
    }
  }
  return { problems, checked }
}

/** Problems with routes whose success status the OpenAPI document does not list (check 8). */
export function checkRouteStatuses(routes, doc) {
  const problems = []
  for (const r of routes) {
    const op = doc.paths?.[r.path]?.[r.method]
    if (!op) problems.push(`${r.method.toUpperCase()} ${r.path} (${r.handler}) is not in the OpenAPI document`)
    else if (!op.responses?.[String(r.status)]) {
      const listed = Object.keys(op.responses ?? {}).filter((c) => c.startsWith('2'))
      problems.push(`${r.method.toUpperCase()} ${r.path} (${r.handler}) answers ${r.status} on success; the OpenAPI document lists ${listed.join(', ') || 'no 2xx'}`)
    }
  }
  return problems
}

export async function checkAll() {
  const files = docFiles()
  const [doc, cli, generated] = [await loadOpenApi(), await loadCli(), await generate()]
  const commands = checkCommands(cli, files)
  const api = checkApiPaths(doc, files)
  const configDoc = files.find((f) => f.name === CONFIG_DOC) ?? { name: CONFIG_DOC, text: '' }
  const curls = checkCurlAuth(files, loadPublicRoute())
  return {
    problems: [
      ...commands.problems,
      ...api.problems,
      ...checkLinks(files),
      ...(await checkGenerated(generated)),
      ...checkConfigVariables(loadConfigVariables(), configDoc),
      ...curls.problems,
      ...checkMetrics(loadNodeMetrics(), { name: METRICS_DOC, text: readFileSync(join(ROOT, METRICS_DOC), 'utf8') }),
      ...checkRouteStatuses(loadRouteStatuses(), doc),
    ],
    commandsChecked: commands.checked,
    pathsChecked: api.checked,
    curlsChecked: curls.checked,
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  checkAll().then(
    ({ problems, commandsChecked, pathsChecked, curlsChecked }) => {
      for (const p of problems) process.stderr.write(`${p}\n`)
      process.stdout.write(`check-docs: ${commandsChecked} CLI invocations, ${pathsChecked} API paths, ${curlsChecked} curl calls checked; ${problems.length} problem(s)\n`)
      process.exit(problems.length ? 1 : 0)
    },
    (err) => {
      process.stderr.write(`check-docs: ${err?.stack ?? err}\n`)
      process.exit(1)
    },
  )
}
