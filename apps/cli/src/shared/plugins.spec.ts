import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { stripVTControlCharacters } from 'node:util'
import { BIN } from '../testing/cli-bin'

// The oclif plugins the CLI ships with, through the built binary as a user runs it.
const run = (args: string[], home: string) =>
  spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') }, encoding: 'utf8', input: '' })

test('autocomplete: the bash and zsh setup and scripts for threshold-wallet (commands and flags cached)', () => {
  const home = mkdtempSync(join(tmpdir(), 'tw-ac-'))
  try {
    const setup = run(['autocomplete', 'bash'], home)
    assert.equal(setup.status, 0, setup.stderr)
    assert.match(setup.stdout, /threshold-wallet autocomplete script bash/)
    const script = run(['autocomplete', 'script', 'zsh'], home)
    assert.equal(script.status, 0, script.stderr)
    assert.match(script.stdout, /THRESHOLD_WALLET_AC_ZSH_SETUP_PATH/)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('a mistyped command is named as not a command, with where to look, exit 127 (no prompt without a terminal)', () => {
  const home = mkdtempSync(join(tmpdir(), 'tw-nf-'))
  try {
    const r = run(['wallet', 'balanse'], home)
    assert.equal(r.status, 127)
    // The plugin colours the command names whenever chalk thinks it may (CI sets FORCE_COLOR).
    const stderr = stripVTControlCharacters(r.stderr)
    assert.match(stderr, /wallet balanse is not a threshold-wallet command/)
    assert.match(stderr, /threshold-wallet help wallet/)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})
