import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * Replaces `target` with `data` so that a crash at any moment leaves either the old file or the
 * new one, never a torn one, and the new one survives a power cut once this returns: write a
 * temporary file, fsync it, rename it over the target, fsync the directory. Owner-only (0600).
 */
export function writeFileDurably(target: string, data: string): void {
  const tmp = `${target}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeFileSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, target)
  const dirFd = openSync(path.dirname(target), 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
}

/**
 * The file in `dir` holding the record named `id` (`<id>.json`). Ids come from etcd: anything but
 * a plain id (letters, digits, dashes; at most 64) is named by its SHA-256, never a path of its own.
 */
export function recordFile(dir: string, id: string): string {
  const name = /^[A-Za-z0-9-]{1,64}$/.test(id) ? id : createHash('sha256').update(id).digest('hex')
  return path.join(dir, `${name}.json`)
}
