import { resolve } from 'node:path'
import { format } from 'node:util'
import type { Command } from '@oclif/core'

/** The CLI package root, where oclif finds package.json. */
export const CLI_ROOT = resolve(__dirname, '..', '..')

export interface CommandOutput<T> {
  stdout: string
  stderr: string
  exitCode: number
  result?: T
}

/**
 * Runs `Cmd.run(argv)` in-process with its stdout and stderr captured, as a user would run the
 * command; a thrown oclif exit becomes `exitCode`.
 */
export async function runCommand<T>(Cmd: { run(argv?: string[], opts?: string): Promise<unknown> } & typeof Command, argv: string[]): Promise<CommandOutput<T>> {
  const out: string[] = []
  const err: string[] = []
  // The CLI writes through console (oclif's ux.stdout/ux.stderr); the test runner itself
  // writes to process.stdout, so only console is captured.
  const origLog = console.log
  const origError = console.error
  console.log = (...a: unknown[]) => void out.push(format(...a) + '\n')
  console.error = (...a: unknown[]) => void err.push(format(...a) + '\n')
  let exitCode = 0
  let result: T | undefined
  try {
    result = (await Cmd.run(argv, CLI_ROOT)) as T
  } catch (e) {
    const code = (e as { oclif?: { exit?: number } }).oclif?.exit
    if (typeof code !== 'number') throw e
    exitCode = code
  } finally {
    console.log = origLog
    console.error = origError
  }
  return { stdout: out.join(''), stderr: err.join(''), exitCode, result }
}
