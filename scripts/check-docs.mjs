#!/usr/bin/env node
// Checks the operator docs against the code (run by test/ops/docs.test.mjs; needs `npm ci`):
//
// 1. every CLI invocation shown in code in docs/*.md and README.md (`threshold-wallet …`,
//    `npx threshold-wallet …`, `node apps/cli/bin/run.js …`) names an existing command (or
//    topic) and only flags that command has;
// 2. every `/api/v1/...` path mentioned anywhere in those files exists in the node's OpenAPI
//    document, with the HTTP method when one is written before it (`POST /api/v1/keys`);
// 3. relative links between the docs point at files that exist;
// 4. docs/openapi.json, docs/API.md and docs/CLI.md are what scripts/gen-docs.mjs generates now.
//
// Usage: node scripts/check-docs.mjs      (exit 1 and one line per problem)
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { generate, loadCli, loadOpenApi, ROOT } from './gen-docs.mjs'

const DOCS = join(ROOT, 'docs')
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
    problems.push(`docs/${name} is out of date (first difference at line ${n + 1}: have ${JSON.stringify(a[n] ?? '<end>')}, generator gives ${JSON.stringify(b[n] ?? '<end>')}): run \`npm run docs\``)
  }
  return problems
}

export async function checkAll() {
  const files = docFiles()
  const [doc, cli, generated] = [await loadOpenApi(), await loadCli(), await generate()]
  const commands = checkCommands(cli, files)
  const api = checkApiPaths(doc, files)
  return {
    problems: [...commands.problems, ...api.problems, ...checkLinks(files), ...(await checkGenerated(generated))],
    commandsChecked: commands.checked,
    pathsChecked: api.checked,
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  checkAll().then(
    ({ problems, commandsChecked, pathsChecked }) => {
      for (const p of problems) process.stderr.write(`${p}\n`)
      process.stdout.write(`check-docs: ${commandsChecked} CLI invocations, ${pathsChecked} API paths checked; ${problems.length} problem(s)\n`)
      process.exit(problems.length ? 1 : 0)
    },
    (err) => {
      process.stderr.write(`check-docs: ${err?.stack ?? err}\n`)
      process.exit(1)
    },
  )
}
