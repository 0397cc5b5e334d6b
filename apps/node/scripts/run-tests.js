#!/usr/bin/env node
'use strict'
// Runs every compiled spec (dist/**/*.spec.js) with Node's own test runner. Node 20 has no
// glob in `node --test`, so the files are found here. Build first (`npx tsc -b` at the root).
// Usage: node scripts/run-tests.js [substring-filter...]
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const dist = path.join(__dirname, '..', 'dist')
function find(dir) {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return find(p)
    return e.isFile() && e.name.endsWith('.spec.js') ? [p] : []
  })
}

const filters = process.argv.slice(2)
const files = find(dist)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
if (files.length === 0) {
  console.error(`no spec files under ${dist}${filters.length ? ` matching ${filters.join(', ')}` : ''}; run \`npx tsc -b\` first`)
  process.exit(1)
}
// One file at a time: the cluster specs start real etcd/PostgreSQL/node processes and the
// machine has two cores.
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' })
process.exit(res.status ?? 1)
