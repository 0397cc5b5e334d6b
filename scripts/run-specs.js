#!/usr/bin/env node
'use strict'
// Runs a package's compiled specs (dist/**/*.spec.js) with Node's own test runner. Node 20 has
// no glob in `node --test`, so the files are found here. Build first (`npx tsc -b` at the root).
//
//   node scripts/run-specs.js <package-dir> [path-substring-filter...]
//
// One file at a time: the cluster specs start real etcd, PostgreSQL and node processes, and the
// machine has two cores. Exits with the runner's status.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const [pkgArg, ...filters] = process.argv.slice(2)
if (!pkgArg) {
  console.error('usage: node scripts/run-specs.js <package-dir> [filter...]')
  process.exit(2)
}
const pkg = path.resolve(pkgArg)
const dist = path.join(pkg, 'dist')

function find(dir) {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return find(p)
    return e.isFile() && e.name.endsWith('.spec.js') ? [p] : []
  })
}

const files = find(dist)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
if (files.length === 0) {
  console.error(`no spec files under ${dist}${filters.length ? ` matching ${filters.join(', ')}` : ''}; run \`npx tsc -b\` first`)
  process.exit(1)
}
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', cwd: pkg })
if (res.error) throw res.error
process.exit(res.status ?? 1)
