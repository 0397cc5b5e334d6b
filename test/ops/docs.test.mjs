// The operator docs against the code (scripts/check-docs.mjs): CLI invocations shown in
// docs/*.md and README.md name real commands and flags, /api/v1 paths exist in the OpenAPI
// document, relative links resolve, and the generated docs (openapi.json, API.md, CLI.md) are
// what scripts/gen-docs.mjs produces from the build. Needs the build (`npm ci` runs `tsc -b`);
// no cluster, etcd or database.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { ROOT } from './helpers.mjs'

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

  it('docs/openapi.json, docs/API.md and docs/CLI.md are up to date with scripts/gen-docs.mjs', async () => {
    assert.deepEqual(await check.checkGenerated(), [])
  })
})
