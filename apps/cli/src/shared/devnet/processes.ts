import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface SpawnDetachedOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** stdout and stderr are appended here. */
  logFile: string
  uid?: number
  gid?: number
}

/**
 * Starts a long-lived process that outlives the CLI: its own session and process group
 * (`detached`), stdin closed, stdout/stderr appended to `logFile`. Returns its pid.
 */
export function spawnDetached(command: string, args: readonly string[], o: SpawnDetachedOptions): number {
  mkdirSync(dirname(o.logFile), { recursive: true })
  const fd = openSync(o.logFile, 'a', 0o600)
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: o.env,
      cwd: o.cwd,
      uid: o.uid,
      gid: o.gid,
    })
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    // Reap it if it dies while we are still running, so a crash is seen as "not alive".
    child.on('error', () => undefined)
    child.unref()
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/** True if `pid` exists and is not a zombie. */
export function isAlive(pid: number | null | undefined): pid is number {
  if (!pid || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." — the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no procfs: trust kill(0)
  }
}

/** The command line of a process (arguments joined by spaces), or undefined. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return undefined
  }
}

/** One environment variable of a process (from /proc/<pid>/environ), or undefined. */
export function environmentVariable(pid: number, name: string): string | undefined {
  try {
    const prefix = name + '='
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((e) => e.startsWith(prefix))
    return entry?.slice(prefix.length)
  } catch {
    return undefined
  }
}

/** What identifies one of our processes: a command-line substring and/or an environment variable. */
export interface ProcessMarker {
  cmdline?: string
  env?: [name: string, value: string]
}

/**
 * True if `pid` is alive and matches `marker` — so a pid recorded in state.json and reused
 * by an unrelated process is never mistaken for ours (or killed). Without procfs, a live pid
 * is trusted.
 */
export function isOurs(pid: number | null | undefined, marker: ProcessMarker): pid is number {
  if (!isAlive(pid)) return false
  if (marker.cmdline !== undefined) {
    const cmd = commandLine(pid)
    if (cmd !== undefined && !cmd.includes(marker.cmdline)) return false
  }
  if (marker.env !== undefined) {
    const [name, value] = marker.env
    const actual = environmentVariable(pid, name)
    if (actual !== undefined && actual !== value) return false
    if (actual === undefined && commandLine(pid) !== undefined) return false
  }
  return true
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return isAlive(pid) || groupHasLiveMembers(pid)
  } catch {
    return isAlive(pid)
  }
}

function groupHasLiveMembers(pgid: number): boolean {
  // A process group whose leader died may still have children: look them up in /proc.
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        if (rest[0] !== 'Z' && Number(rest[2]) === pgid) return true
      } catch {
        // raced with its exit
      }
    }
  } catch {
    return false
  }
  return false
}

/**
 * Stops the process group led by `pid`: `signal` (SIGTERM by default), then SIGKILL after
 * `graceMs`. Resolves to how it ended.
 */
export async function stopGroup(pid: number, o: { graceMs: number; signal?: NodeJS.Signals }): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!groupAlive(pid)) return 'not-running'
  signalGroup(pid, o.signal ?? 'SIGTERM')
  const deadline = Date.now() + o.graceMs
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return 'stopped'
    await sleep(100)
  }
  signalGroup(pid, 'SIGKILL')
  for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(100)
  return 'killed'
}
