#!/usr/bin/env node
// Generates docs/openapi.json, docs/API.md and docs/CLI.md from the built code (`npm ci` or
// `npx tsc -b` first). Nothing runs against a cluster:
//
// - OpenAPI: the node's controllers (every controller reachable from AppModule, read from
//   apps/node/dist) are mounted in a Nest application whose services are empty stand-ins;
//   `configureApp` (the same function main.ts calls) sets up /api/docs; the document is read
//   from /api/docs-json on a loopback port and the server is closed. No etcd, PostgreSQL,
//   engine or chain is touched: controllers only hold references to their services.
// - CLI: oclif's own `Config.load` over apps/cli (commands from apps/cli/dist/commands, topics
//   from apps/cli/package.json) — the same data `oclif manifest` writes.
//
// Usage: node scripts/gen-docs.mjs [--out DIR]   (default DIR: docs/)
//        npm run docs
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const NODE_DIST = join(ROOT, 'apps', 'node', 'dist')
const CLI_DIR = join(ROOT, 'apps', 'cli')
const requireFromNode = createRequire(join(ROOT, 'apps', 'node', 'package.json'))
const requireFromCli = createRequire(join(CLI_DIR, 'package.json'))

/** Port shown in examples: the devnet's node 1 (`threshold-wallet devnet status` shows yours). */
export const EXAMPLE_PORT = 8081

// ------------------------------------------------------------------------------------------
// OpenAPI

/** Every controller class reachable from the root module's imports (static and dynamic modules). */
function collectControllers(root) {
  const seen = new Set()
  const controllers = new Set()
  const visit = (m) => {
    if (!m) return
    if (typeof m === 'object' && typeof m.forwardRef === 'function') m = m.forwardRef()
    if (seen.has(m)) return
    seen.add(m)
    const cls = typeof m === 'function' ? m : m.module
    const dynamic = typeof m === 'function' ? {} : m
    for (const c of [...(Reflect.getMetadata('controllers', cls) ?? []), ...(dynamic.controllers ?? [])]) controllers.add(c)
    for (const i of [...(Reflect.getMetadata('imports', cls) ?? []), ...(dynamic.imports ?? [])]) visit(i)
  }
  visit(root)
  return [...controllers]
}

/** Constructor dependency tokens of a class (`@Inject(token)` overrides included). */
function dependencyTokens(cls) {
  const types = [...(Reflect.getMetadata('design:paramtypes', cls) ?? [])]
  for (const { index, param } of Reflect.getMetadata('self:paramtypes', cls) ?? []) types[index] = param
  return types.filter((t) => t !== undefined && t !== Object)
}

/** Guards, interceptors and pipes referenced by class on a controller or its handlers. */
function enhancerClasses(controller) {
  const keys = ['__guards__', '__interceptors__', '__pipes__', '__exceptionFilters__']
  const targets = [
    controller,
    ...Object.getOwnPropertyNames(controller.prototype)
      .map((n) => controller.prototype[n])
      .filter((f) => typeof f === 'function'),
  ]
  const out = new Set()
  for (const t of targets) for (const k of keys) for (const e of Reflect.getMetadata(k, t) ?? []) if (typeof e === 'function') out.add(e)
  return [...out]
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch', 'all', 'options', 'head'] // Nest's RequestMethod order

/**
 * Every documented route of the node's controllers with the status its handler answers on success: its
 * `@HttpCode`, else Nest's default (201 for POST, 200 otherwise). Paths in OpenAPI's spelling
 * (`/api/v1/keys/{id}`).
 */
export function loadRouteStatuses() {
  requireFromNode('reflect-metadata')
  const { AppModule } = requireFromNode(join(NODE_DIST, 'app.module.js'))
  const routes = []
  for (const cls of collectControllers(AppModule.forRoot({}))) {
    // Left out of the document on purpose (@ApiExcludeController: /metrics is Prometheus text).
    if (Reflect.getMetadata('swagger/apiExcludeController', cls)?.[0]) continue
    const bases = [Reflect.getMetadata('path', cls) ?? ''].flat()
    for (const name of Object.getOwnPropertyNames(cls.prototype)) {
      const handler = cls.prototype[name]
      if (name === 'constructor' || typeof handler !== 'function' || Reflect.getMetadata('method', handler) === undefined) continue
      if (Reflect.getMetadata('swagger/apiExcludeEndpoint', handler)?.disable) continue
      const method = METHODS[Reflect.getMetadata('method', handler)]
      const status = Reflect.getMetadata('__httpCode__', handler) ?? (method === 'post' ? 201 : 200)
      for (const base of bases) {
        for (const sub of [Reflect.getMetadata('path', handler) ?? ''].flat()) {
          const path = (
            '/' +
            [base, sub]
              .map((x) => x.replace(/^\/+|\/+$/g, ''))
              .filter(Boolean)
              .join('/')
          ).replace(/:([A-Za-z0-9_]+)/g, '{$1}')
          routes.push({ method, path, status, handler: `${cls.name}.${name}` })
        }
      }
    }
  }
  return routes
}

/** The node's OpenAPI document, exactly as `/api/docs-json` serves it (minus the node id). */
export async function loadOpenApi() {
  requireFromNode('reflect-metadata')
  const { Module } = requireFromNode('@nestjs/common')
  const { NestFactory } = requireFromNode('@nestjs/core')
  const { AppModule } = requireFromNode(join(NODE_DIST, 'app.module.js'))
  const { configureApp } = requireFromNode(join(NODE_DIST, 'api', 'configure-app.js'))

  const controllers = collectControllers(AppModule.forRoot({}))
  const tokens = new Set()
  const pending = [...controllers, ...controllers.flatMap(enhancerClasses)]
  for (const cls of pending) for (const t of dependencyTokens(cls)) tokens.add(t)
  for (const cls of controllers.flatMap(enhancerClasses)) tokens.delete(cls)
  const providers = [...tokens].map((provide) => ({ provide, useValue: {} }))

  class OpenApiDocsModule {}
  Module({ controllers, providers })(OpenApiDocsModule)
  const app = await NestFactory.create(OpenApiDocsModule, { logger: false, abortOnError: false })
  try {
    configureApp(app, {})
    await app.listen(0, '127.0.0.1')
    const { port } = app.getHttpServer().address()
    const res = await fetch(`http://127.0.0.1:${port}/api/docs-json`)
    if (!res.ok) throw new Error(`/api/docs-json answered ${res.status}`)
    return await res.json()
  } finally {
    await app.close()
  }
}

// ------------------------------------------------------------------------------------------
// CLI

/** Commands and topics as oclif loads them (the manifest's content). */
export async function loadCli() {
  const { Config } = requireFromCli('@oclif/core')
  const config = await Config.load(CLI_DIR)
  const commands = config.commands
    .filter((c) => !c.hidden)
    .map((c) => ({
      id: c.id,
      usage: c.id.split(':').join(' '),
      summary: c.summary ?? '',
      description: c.description ?? '',
      examples: c.examples ?? [],
      flags: Object.entries(c.flags ?? {}).map(([name, f]) => ({ name, ...f })),
      args: Object.entries(c.args ?? {}).map(([name, a]) => ({ name, ...a })),
      aliases: c.aliases ?? [],
    }))
    .sort((a, b) => a.id.localeCompare(b.id))
  const topics = Object.fromEntries(Object.entries(config.pjson.oclif?.topics ?? {}).map(([k, v]) => [k, v.description ?? '']))
  return { bin: config.bin, commands, topics }
}

// ------------------------------------------------------------------------------------------
// Rendering

const HEADER = (what) => `<!-- Generated by scripts/gen-docs.mjs from ${what}. Do not edit: run \`npm run docs\`. -->\n`

const esc = (s) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ')

function refName(ref) {
  return ref.split('/').pop()
}

/** A compact type for a schema: `string`, `integer`, `KeyDoc`, `KeyDoc[]`, `'a' \| 'b'`. */
function typeOf(s) {
  if (!s) return ''
  if (s.$ref) return refName(s.$ref)
  if (s.enum) return s.enum.map((v) => `\`${v}\``).join(' \\| ')
  if (s.type === 'array') return `${typeOf(s.items)}[]`
  if (s.allOf?.length === 1) return typeOf(s.allOf[0])
  return s.type ?? 'object'
}

function exampleValue(s, doc, depth = 0) {
  if (!s || depth > 3) return null
  if (s.example !== undefined) return s.example
  if (s.$ref) return exampleValue(doc.components?.schemas?.[refName(s.$ref)], doc, depth + 1)
  if (s.enum) return s.enum[0]
  if (s.type === 'array') return [exampleValue(s.items, doc, depth + 1)].filter((v) => v !== null)
  if (s.type === 'object' || s.properties) {
    const out = {}
    for (const [k, p] of Object.entries(s.properties ?? {})) if ((s.required ?? []).includes(k)) out[k] = exampleValue(p, doc, depth + 1)
    return out
  }
  if (s.type === 'integer' || s.type === 'number') return s.minimum ?? 1
  if (s.type === 'boolean') return true
  if (s.type === 'string') return 'string'
  return null
}

/** Whether the document declares bearer authentication (API tokens). */
function bearer(doc) {
  return Object.values(doc.components?.securitySchemes ?? {}).some((s) => s.type === 'http' && s.scheme === 'bearer')
}

function curlFor(method, path, op, doc) {
  const url = `http://127.0.0.1:${EXAMPLE_PORT}${path.replace(/\{(\w+)\}/g, (_, n) => `<${n}>`)}`
  const query = (op.parameters ?? []).filter((p) => p.in === 'query' && p.schema?.enum)
  const qs = query.length ? '?' + query.map((p) => `${p.name}=${p.schema.enum[0]}`).join('&') : ''
  const parts = ['curl -s']
  if (method !== 'get') parts.push(`-X ${method.toUpperCase()}`)
  const secured = (op.security ?? doc.security ?? []).length > 0
  if (secured || (bearer(doc) && path.startsWith('/api/v1'))) parts.push('-H "Authorization: Bearer $TW_API_TOKEN"')
  // An idempotency key is a fresh UUID; other optional headers (Last-Event-ID) only with their example.
  for (const h of (op.parameters ?? []).filter((p) => p.in === 'header')) {
    if (/idempotency/i.test(h.name)) parts.push(`-H "${h.name}: $(uuidgen)"`)
    else if (h.example !== undefined) parts.push(`-H "${h.name}: ${h.example}"`)
  }
  // A stream is printed as it comes.
  if (op.responses?.['200']?.content?.['text/event-stream']) parts.splice(1, 0, '-N')
  const content = op.requestBody?.content?.['application/json']
  const body = content?.schema
  const lines = []
  if (body) {
    parts.push('-H "Content-Type: application/json"')
    // The operation's named examples, one curl line each; else one built from the schema.
    const examples = Object.values(content.examples ?? {}).map((e) => e.value)
    for (const value of examples.length ? examples : [exampleValue(body, doc)]) lines.push([...parts, `-d '${JSON.stringify(value)}'`, `"${url}${qs}"`].join(' '))
    return lines.join('\n')
  }
  parts.push(`"${url}${qs}"`)
  return parts.join(' ')
}

function schemaTable(name, s) {
  const lines = [`#### ${name}`, '']
  if (s.description) lines.push(s.description, '')
  const props = Object.entries(s.properties ?? {})
  if (!props.length) return [...lines, `\`${typeOf(s)}\``, ''].join('\n')
  lines.push('| Field | Type | Required | Notes |', '|---|---|---|---|')
  for (const [k, p] of props) {
    const notes = [
      p.description,
      p.nullable ? 'nullable' : '',
      p.default !== undefined ? `default \`${JSON.stringify(p.default)}\`` : '',
      p.minimum !== undefined ? `min ${p.minimum}` : '',
      p.maximum !== undefined ? `max ${p.maximum}` : '',
      p.example !== undefined ? `e.g. \`${JSON.stringify(p.example)}\`` : '',
    ]
      .filter(Boolean)
      .join('; ')
    lines.push(`| \`${k}\` | ${esc(typeOf(p))} | ${(s.required ?? []).includes(k) ? 'yes' : 'no'} | ${esc(notes)} |`)
  }
  return [...lines, ''].join('\n')
}

export function renderApi(doc) {
  const out = [HEADER('the OpenAPI document (docs/openapi.json, served by every node at /api/docs-json)')]
  out.push(`# API reference — ${doc.info?.title ?? ''} ${doc.info?.version ?? ''}`.trim(), '')
  out.push(doc.info?.description ?? '', '')
  out.push(
    `Every node serves the same API. The examples use \`127.0.0.1:${EXAMPLE_PORT}\`, the devnet's node 1 ` +
      "(`threshold-wallet devnet status` lists every node's URL; in docker/ the nodes are published on 8081..8085). " +
      'The interactive document is at `/api/docs`, the JSON at `/api/docs-json`. Request bodies must be ' +
      '`application/json` (anything else: 415). Errors always have the shape ' +
      '`{"error":{"code","message","details?"}}`.',
    '',
  )
  if (bearer(doc)) {
    out.push('Every `/api/v1` route needs `Authorization: Bearer <token>` (the examples read it from `TW_API_TOKEN`, the variable the CLI reads too).', '')
    out.push(
      'Every answer carries `X-Request-Id`: the one the request sent (1-128 printable characters), or one the node made. A send keeps it (`requestId` in the transaction), and every node logs its work on that send with it (`TW_LOG_FORMAT=json`: a `requestId` field), so one id finds a payment in every log.',
      '',
    )
  } else {
    out.push(
      '**Authentication:** this document declares none — the API answers anyone who can reach its port. ' + 'Keep it on loopback or behind a firewall/TLS proxy (see SECURITY.md).',
      '',
    )
  }
  out.push('Also served, outside this document: `GET /metrics` (Prometheus text format).', '')
  const byTag = new Map()
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      const tag = op.tags?.[0] ?? 'other'
      if (!byTag.has(tag)) byTag.set(tag, [])
      byTag.get(tag).push({ path, method, op })
    }
  }
  out.push('## Routes', '', '| Method | Path | Summary |', '|---|---|---|')
  for (const [, ops] of byTag) for (const { path, method, op } of ops) out.push(`| ${method.toUpperCase()} | \`${path}\` | ${esc(op.summary)} |`)
  out.push('')
  for (const [tag, ops] of byTag) {
    out.push(`## ${tag}`, '')
    for (const { path, method, op } of ops) {
      out.push(`### ${method.toUpperCase()} ${path}`, '')
      if (op.summary) out.push(op.summary, '')
      if (op.description) out.push(op.description, '')
      const params = op.parameters ?? []
      if (params.length) {
        out.push('| Parameter | In | Type | Required | Notes |', '|---|---|---|---|---|')
        for (const p of params) out.push(`| \`${p.name}\` | ${p.in} | ${esc(typeOf(p.schema))} | ${p.required ? 'yes' : 'no'} | ${esc(p.description)} |`)
        out.push('')
      }
      const body = op.requestBody?.content?.['application/json']?.schema
      if (body) out.push(`Body: \`${typeOf(body)}\``, '')
      const responses = Object.entries(op.responses ?? {})
      if (responses.length) {
        out.push('| Status | Body | Meaning |', '|---|---|---|')
        for (const [status, r] of responses) out.push(`| ${status} | ${esc(typeOf(r.content?.['application/json']?.schema)) || '—'} | ${esc(r.description)} |`)
        out.push('')
      }
      out.push('```sh', curlFor(method, path, op, doc), '```', '')
    }
  }
  const schemas = Object.entries(doc.components?.schemas ?? {}).sort(([a], [b]) => a.localeCompare(b))
  if (schemas.length) {
    out.push('## Schemas', '')
    for (const [name, s] of schemas) out.push(schemaTable(name, s))
  }
  return (
    out
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  )
}

function flagUsage(f) {
  const name = `--${f.name}${f.char ? ` / -${f.char}` : ''}`
  if (f.type === 'boolean') return f.allowNo ? `${name} / --no-${f.name}` : name
  return `${name} <${f.helpValue ?? (f.options ? f.options.join('|') : 'value')}>`.replace(/<<(.*)>>/, '<$1>')
}

function exampleText(e, bin, id) {
  const text = typeof e === 'string' ? e : [e.description, e.command].filter(Boolean).join('\n')
  return text.replace(/<%= config\.bin %>/g, bin).replace(/<%= command\.id %>/g, id.split(':').join(' '))
}

export function renderCli({ bin, commands, topics }) {
  const out = [HEADER('the oclif command metadata of apps/cli (the `oclif manifest` data)')]
  out.push(`# CLI reference — \`${bin}\``, '')
  out.push(
    `Installed by \`npm ci\` at the repository root (\`npx ${bin} …\`, or \`node apps/cli/bin/run.js …\`). ` +
      `\`${bin} <command> --help\` prints the same information. Every command takes \`--json\` ` +
      '(one JSON document on stdout, errors as `{"error":{"code","message"}}`).',
    '',
    'Exit codes: **0** done; **1** failed (the error code says why: `TX_REJECTED`, `INSUFFICIENT_FUNDS`, `NODE_UNREACHABLE`, …); ' +
      '**2** bad flags or arguments (`INVALID_FLAGS`, `INVALID_AMOUNT`, …; nothing was sent); ' +
      '**3** accepted but not finished when the command stopped waiting (`TX_TIMEOUT`, `KEY_TIMEOUT`): it may still complete — ' +
      'check with `tx show` / `keys list`, never repeat a send under a new Idempotency-Key.',
    '',
  )
  out.push('| Command | Summary |', '|---|---|')
  for (const c of commands) out.push(`| [\`${c.usage}\`](#${anchor(c.usage)}) | ${esc(c.summary)} |`)
  out.push('')
  const byTopic = new Map()
  for (const c of commands) {
    const topic = c.id.includes(':') ? c.id.split(':')[0] : ''
    if (!byTopic.has(topic)) byTopic.set(topic, [])
    byTopic.get(topic).push(c)
  }
  for (const [topic, cmds] of [...byTopic].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`## ${topic ? `${topic}` : 'top-level commands'}`, '')
    if (topic && topics[topic]) out.push(topics[topic], '')
    for (const c of cmds) {
      out.push(`### ${c.usage}`, '')
      if (c.summary) out.push(c.summary, '')
      if (c.description) out.push(c.description.replace(/<%= config\.bin %>/g, bin), '')
      const argUsage = c.args.map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`)).join(' ')
      out.push('```text', `${bin} ${c.usage}${argUsage ? ' ' + argUsage : ''}${c.flags.length ? ' [flags]' : ''}`, '```', '')
      if (c.args.length) {
        out.push('| Argument | Required | Description |', '|---|---|---|')
        for (const a of c.args) out.push(`| \`${a.name}\` | ${a.required ? 'yes' : 'no'} | ${esc(a.description)} |`)
        out.push('')
      }
      if (c.flags.length) {
        out.push('| Flag | Description | Default |', '|---|---|---|')
        for (const f of [...c.flags].sort((a, b) => a.name.localeCompare(b.name))) {
          const dflt = f.default === undefined || typeof f.default === 'function' ? '' : `\`${JSON.stringify(f.default)}\``
          const desc = [f.summary ?? f.description, f.required ? '(required)' : '', f.multiple ? '(repeatable)' : '', f.env ? `(env \`${f.env}\`)` : ''].filter(Boolean).join(' ')
          out.push(`| \`${flagUsage(f)}\` | ${esc(desc)} | ${dflt} |`)
        }
        out.push('')
      }
      if (c.examples.length) {
        out.push('Examples:', '', '```sh')
        for (const e of c.examples) out.push(exampleText(e, bin, c.id))
        out.push('```', '')
      }
    }
  }
  return (
    out
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  )
}

function anchor(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-')
}

// ------------------------------------------------------------------------------------------

/** Renders every generated file: `{ 'openapi.json': ..., 'API.md': ..., 'CLI.md': ... }`. */
export async function generate() {
  const doc = await loadOpenApi()
  const cli = await loadCli()
  return {
    'openapi.json': JSON.stringify(doc, null, 2) + '\n',
    'API.md': renderApi(doc),
    'CLI.md': renderCli(cli),
  }
}

async function main() {
  const i = process.argv.indexOf('--out')
  const out = i > 0 ? resolve(process.argv[i + 1]) : join(ROOT, 'docs')
  mkdirSync(out, { recursive: true })
  const files = await generate()
  for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text)
  process.stdout.write(
    `wrote ${Object.keys(files)
      .map((n) => join(out, n))
      .join(', ')}\n`,
  )
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`gen-docs: ${err?.stack ?? err}\n`)
      process.exit(1)
    },
  )
}
