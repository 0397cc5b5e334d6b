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
