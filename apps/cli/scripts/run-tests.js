#!/usr/bin/env node
// Runs every compiled spec (dist/**/*.spec.js) with Node's test runner; Node 20 has no glob in
// `node --test`, so the files are found here. Arguments filter by path substring
// (`npm test -w @tw/cli -- keys`). Exits with the runner's status.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dist = path.join(root, 'dist')

function find(dir) {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return find(p)
    return e.isFile() && e.name.endsWith('.spec.js') ? [p] : []
  })
}

const only = process.argv.slice(2)
let files = find(dist).sort()
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)))
if (files.length === 0) {
  console.error(`no compiled specs under ${path.relative(process.cwd(), dist) || dist}; run \`npx tsc -b\` first`)
  process.exit(1)
}
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit', cwd: root })
if (r.error) throw r.error
process.exit(r.status ?? 1)
