// The operator docs against the code (scripts/check-docs.mjs): CLI invocations shown in
// docs/*.md and README.md name real commands and flags, /api/v1 paths exist in the OpenAPI
// document, relative links resolve, the generated docs (openapi.json, API.md, CLI.md) are
// what scripts/gen-docs.mjs produces from the build, DEPLOYMENT.md's variable table names
// exactly the node's TW_ variables, every curl to an /api/v1 route sends a token, and every
// route's success status is one its OpenAPI operation lists. Needs
// the build (`npm ci` runs `tsc -b`); no cluster, etcd or database.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { configVariables, ROOT } from './helpers.mjs'

const built = existsSync(join(ROOT, 'apps', 'node', 'dist', 'app.module.js')) && existsSync(join(ROOT, 'apps', 'cli', 'dist', 'commands'))

describe('docs', () => {
  let check, gen, files, doc, cli
  before(async () => {
    assert.ok(built, 'apps/node/dist or apps/cli/dist is missing: build first (`npx tsc -b`, run by `npm ci`)')
    check = await import(join(ROOT, 'scripts', 'check-docs.mjs'))
    gen = await import(join(ROOT, 'scripts', 'gen-docs.mjs'))
    files = check.docFiles()
    doc = await gen.loadOpenApi()
    cli = await gen.loadCli()
  })

  it('every operator doc the issue names exists', () => {
    for (const name of ['ARCHITECTURE', 'API', 'CLI', 'SECURITY', 'RUNBOOK', 'DEPLOYMENT', 'PERFORMANCE', 'FAQ']) {
      assert.ok(existsSync(join(ROOT, 'docs', `${name}.md`)), `docs/${name}.md`)
    }
  })

  it('the OpenAPI document comes from the controllers without a cluster', () => {
    assert.match(doc.openapi, /^3\./)
    for (const p of ['/api/v1/transactions', '/api/v1/cluster/status', '/api/v1/keys', '/health']) assert.ok(doc.paths[p], p)
  })

  it('the OpenAPI document says what each route really answers: auth, throttling and body-limit errors, 202s as sent, integer amounts, readable operation ids', () => {
    const ids = new Set()
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert.match(op.operationId, /^[a-z][A-Za-z]+$/, `${method} ${path}: ${op.operationId}`)
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} twice`)
        ids.add(op.operationId)
        if (!path.startsWith('/api/v1')) continue
        const statuses = Object.keys(op.responses)
        for (const s of ['401', '403', '429', ...(method === 'get' ? [] : ['413'])]) assert.ok(statuses.includes(s), `${method} ${path} lacks ${s}`)
        assert.equal(op.responses['401'].content['application/json'].schema.$ref, '#/components/schemas/ErrorDoc')
      }
    }
    const send = Object.keys(doc.paths['/api/v1/transactions'].post.responses)
    assert.ok(send.includes('202') && send.includes('200') && !send.includes('201'), `POST /api/v1/transactions answers ${send}`)
    assert.ok(Object.keys(doc.paths['/api/v1/presignatures'].post.responses).includes('202'))
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      // An amount is an integer (or, where a word stands for one, like "max", a choice of an integer and that word).
      const integral = (p) =>
        p.type === 'integer' || (Array.isArray(p.oneOf) && p.oneOf.some((o) => o.type === 'integer') && p.oneOf.every((o) => o.type === 'integer' || Array.isArray(o.enum)))
      for (const [prop, p] of Object.entries(schema.properties ?? {})) if (/Sats$/.test(prop)) assert.ok(integral(p), `${name}.${prop}: ${JSON.stringify(p)}`)
    }
    assert.equal(doc.components.securitySchemes.bearer.bearerFormat, 'opaque')
  })

  it('every CLI invocation in the docs names an existing command and only its flags', () => {
    const { problems, checked } = check.checkCommands(cli, files)
    assert.deepEqual(problems, [])
    assert.ok(checked >= 30, `only ${checked} invocations found: is the scanner broken?`)
  })

  it('the checker refuses an unknown command and an unknown flag', () => {
    const fake = [{ name: 'fake.md', text: '```sh\nnpx threshold-wallet wallet balanc\nthreshold-wallet send --to x --amout 5\n```\n' }]
    const { problems } = check.checkCommands(cli, fake)
    assert.equal(problems.length, 2, problems.join('\n'))
  })

  it('every /api/v1 path in the docs exists in the OpenAPI document (with its method)', () => {
    const { problems, checked } = check.checkApiPaths(doc, files)
    assert.deepEqual(problems, [])
    assert.ok(checked >= 20, `only ${checked} paths found`)
    const fake = [{ name: 'fake.md', text: 'POST /api/v1/wallet/balance and GET /api/v1/nope' }]
    assert.equal(check.checkApiPaths(doc, fake).problems.length, 2)
  })

  it('relative links between the docs resolve', () => {
    assert.deepEqual(check.checkLinks(files), [])
  })

  it('docs/DEPLOYMENT.md\'s "Every variable" table names exactly the TW_ variables the node reads', () => {
    const variables = check.loadConfigVariables()
    assert.deepEqual([...variables].sort(), [...configVariables()].sort(), "the build's CONFIG_VARIABLES are envSchema's keys in config.ts (rebuild: `npx tsc -b`)")
    const doc = files.find((f) => f.name === check.CONFIG_DOC)
    assert.ok(doc, check.CONFIG_DOC)
    assert.deepEqual(check.checkConfigVariables(variables, doc), [])
  })

  it('the variable check refuses a variable missing from the table, a row the node does not read, and a doc without the table', () => {
    const doc = {
      name: 'fake.md',
      text: `${check.CONFIG_TABLE_HEADING}\n\n| Variable | Default | Meaning |\n|---|---|---|\n| \`TW_NODE_ID\` / \`TW_GONE\` | — | mentions \`TW_NOT_DOCUMENTED\` only here |\n\n## Next\n\n| \`TW_NOT_DOCUMENTED\` | later table |\n`,
    }
    const problems = check.checkConfigVariables(['TW_NODE_ID', 'TW_NOT_DOCUMENTED'], doc)
    assert.equal(problems.length, 2, problems.join('\n'))
    assert.match(problems[0], /TW_NOT_DOCUMENTED .*missing/)
    assert.match(problems[1], /names TW_GONE, which the node does not read/)
    assert.match(check.checkConfigVariables(['TW_NODE_ID'], { name: 'fake.md', text: '| `TW_NODE_ID` | — | x |' })[0], /no "### Every variable" table/)
  })

  it('monitoring/README.md lists exactly the mpc_ metrics the node registers; the check refuses a missing and a stale one', () => {
    const metrics = check.loadNodeMetrics()
    assert.ok(metrics.includes('mpc_api_denied_total') && metrics.includes('mpc_webhook_deliveries_total'), 'metrics registered outside metrics.service.ts are found too')
    const doc = { name: check.METRICS_DOC, text: readFileSync(join(ROOT, check.METRICS_DOC), 'utf8') }
    assert.deepEqual(check.checkMetrics(metrics, doc), [])
    const fake = { name: 'fake.md', text: '## Metrics used\n\n`mpc_active_nodes`, `mpc_gone_total{x}`\n\n## Alerts\n\n`mpc_new_total`\n' }
    const problems = check.checkMetrics(['mpc_active_nodes', 'mpc_new_total'], fake)
    assert.equal(problems.length, 2, problems.join('\n'))
    assert.match(problems[0], /mpc_new_total .*missing/)
    assert.match(problems[1], /names mpc_gone_total, which the node does not register/)
  })

  it('every route answers on success a status its OpenAPI operation lists; the check refuses a 201 under a documented 200 and a route the document lacks', () => {
    const routes = gen.loadRouteStatuses()
    assert.ok(routes.length >= 30, `only ${routes.length} routes found: is the scanner broken?`)
    const send = routes.find((r) => r.method === 'post' && r.path === '/api/v1/transactions')
    assert.equal(send?.status, 202, 'POST /api/v1/transactions answers 202 (its @HttpCode)')
    assert.ok(
      routes.some((r) => r.path === '/api/v1/keys/{id}/refresh' && r.method === 'post'),
      'path parameters in OpenAPI spelling',
    )
    assert.ok(!routes.some((r) => r.path === '/metrics'), '@ApiExcludeController routes are left out')
    assert.deepEqual(check.checkRouteStatuses(routes, doc), [])
    const problems = check.checkRouteStatuses(
      [
        { method: 'post', path: '/api/v1/keys', status: 201, handler: 'KeysController.create' },
        { method: 'get', path: '/api/v1/nowhere', status: 200, handler: 'X.y' },
      ],
      { paths: { '/api/v1/keys': { post: { responses: { 200: {}, 202: {}, 401: {} } } } } },
    )
    assert.equal(problems.length, 2, problems.join('\n'))
    assert.match(problems[0], /POST \/api\/v1\/keys \(KeysController.create\) answers 201 on success; the OpenAPI document lists 200, 202/)
    assert.match(problems[1], /GET \/api\/v1\/nowhere \(X.y\) is not in the OpenAPI document/)
  })

  it('every curl to an /api/v1 route in the docs sends an Authorization header', () => {
    const { problems, checked } = check.checkCurlAuth(files, check.loadPublicRoute())
    assert.deepEqual(problems, [])
    assert.ok(checked >= 20, `only ${checked} curl calls found: is the scanner broken?`)
  })

  it('the curl check refuses an /api/v1 call without a token (also split over lines, or the second of two), not a public route', () => {
    const fake = [
      {
        name: 'fake.md',
        text: [
          '```sh',
          'curl -s http://127.0.0.1:8081/api/v1/keys',
          'curl -s -X POST \\',
          '  http://127.0.0.1:8081/api/v1/drill',
          'curl -s -H "Authorization: Bearer $TW_API_TOKEN" http://h/api/v1/keys && curl -s http://h/api/v1/tokens',
          'curl -s -H "Authorization: Bearer $TW_API_TOKEN" http://127.0.0.1:8081/api/v1/wallet/balance',
          'curl -s http://127.0.0.1:8081/health/ready',
          '```',
        ].join('\n'),
      },
    ]
    const { problems } = check.checkCurlAuth(fake, check.loadPublicRoute())
    assert.deepEqual(
      problems.map((p) => p.replace(/ has no .*/, '')),
      ['fake.md:2: `curl … GET /api/v1/keys`', 'fake.md:3: `curl … POST /api/v1/drill`', 'fake.md:5: `curl … GET /api/v1/tokens`'],
    )
    // The route rule is the node's guard: /health/ready is open, /api/v1 routes are not.
    const isPublic = check.loadPublicRoute()
    assert.equal(isPublic('GET', '/health/ready'), true)
    assert.equal(isPublic('GET', '/api/v1/cluster/status'), false)
  })

  it('docs/openapi.json, docs/API.md and docs/CLI.md are up to date with scripts/gen-docs.mjs', async () => {
    assert.deepEqual(await check.checkGenerated(), [])
  })
})
