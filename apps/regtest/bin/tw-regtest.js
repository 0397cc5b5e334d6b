#!/usr/bin/env node
'use strict'
// tw-regtest: the embedded regtest chain as a process. Build first (`npx tsc -b` at the root).
require('../dist/bin.js').main(process.argv.slice(2))
