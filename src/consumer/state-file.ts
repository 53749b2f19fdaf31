import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ErrorCodes, OutpostError } from '../errors.js'

/**
 * The consumer's persistent memory of emitted ids: an append-only text file,
 * one JSON string per line after a header line, compacted by
 * write-then-rename. Every append is written (write(2): it survives the
 * death of the process) and, unless the caller defers it, fdatasync'd (it
 * survives a power cut) before it returns.
 *
 * A kill -9 can leave at most a torn last line (no newline): it is cut off on
 * open, since its append never returned. Lines that are not a JSON string
 * (disk damage, an edit by hand) are skipped and reported, and the file is
 * rewritten without them. A file that does not start with the header is not
 * ours: it is refused, never overwritten. A lock file `<file>.lock` holding the
 * owner's pid keeps a second consumer away; a lock whose pid is gone (the
 * owner was killed) is taken over.
 */

export const STATE_HEADER = 'outpost-consumer-state 1\n'

export interface StateRecovery {
  /** Ids read, in file order. */
  ids: string[]
  /** Lines that were not a valid id and were skipped. */
  badLines: number
  /** Bytes of a torn last line that were cut off. */
  tornBytes: number
  /** True when there was no state file (or an empty one). */
  created: boolean
  /** True when a lock left by a process that no longer runs was taken over. */
  staleLock: boolean
}

export interface StateFile {
  readonly path: string
  /** Lines appended since the file was last rewritten. */
  readonly appendedLines: number
  /**
   * Append ids (one line each): written before returning, and fdatasync'd too
   * unless `sync` is false (then call sync() later). Throws OUTPOST_CONSUMER_STATE.
   */
  append(ids: readonly string[], opts?: { sync?: boolean }): void
  /** fdatasync what was appended without it. Throws OUTPOST_CONSUMER_STATE. */
  sync(): void
  /** Replace the whole file with these ids (write a temp file, fsync, rename, fsync the directory). */
  rewrite(ids: Iterable<string>): number
  /** Close the file and remove the lock. Idempotent. */
  close(): void
}

export interface StateFileOptions {
  /** fdatasync after every append and rewrite (default true). Off only for tests and benchmarks. */
  fsync?: boolean
}

export function openStateFile(path: string, opts: StateFileOptions = {}): { state: StateFile; recovery: StateRecovery } {
  const sync = opts.fsync !== false
  const lockPath = `${resolve(path)}.lock`
  const staleLock = takeLock(lockPath)
  let fd: number | undefined
  try {
    rmSync(`${path}.tmp`, { force: true })
    const recovery = readState(path, staleLock)
    if (recovery.created) writeWhole(path, [], sync)
    fd = openSync(path, 'r+')
    if (recovery.tornBytes > 0) {
      const size = readFileSync(path).length
      ftruncateSync(fd, size - recovery.tornBytes)
      if (sync) fdatasyncSync(fd)
    }
    closeSync(fd)
    fd = openSync(path, 'a')
    return { state: createState(path, lockPath, fd, sync), recovery }
  } catch (err) {
    if (fd !== undefined) closeSync(fd)
    rmSync(lockPath, { force: true })
    heldHere.delete(lockPath)
    throw err instanceof OutpostError ? err : stateError(`cannot open the consumer state file ${path}: ${(err as Error).message}`, err)
  }
}

function createState(path: string, lockPath: string, firstFd: number, sync: boolean): StateFile {
  let fd: number | undefined = firstFd
  let closed = false
  let unsynced = false
  let appendedLines = 0
  return {
    path,
    get appendedLines() { return appendedLines },
    append(ids, opts) {
      if (ids.length === 0) return
      if (closed) throw stateError(`consumer state file ${path} is closed`)
      let text = ''
      for (const id of ids) text += JSON.stringify(id) + '\n'
      try {
        // Reopened here when a failed rewrite left it closed.
        fd ??= openSync(path, 'a')
        writeAll(fd, Buffer.from(text))
        unsynced = true
        if (opts?.sync !== false && sync) {
          fdatasyncSync(fd)
          unsynced = false
        }
      } catch (err) {
        throw stateError(`cannot write the consumer state file ${path}: ${(err as Error).message}`, err)
      }
      appendedLines += ids.length
    },
    sync() {
      if (!unsynced || !sync) return
      if (closed) throw stateError(`consumer state file ${path} is closed`)
      try {
        fd ??= openSync(path, 'a')
        fdatasyncSync(fd)
      } catch (err) {
        throw stateError(`cannot sync the consumer state file ${path}: ${(err as Error).message}`, err)
      }
      unsynced = false
    },
    rewrite(ids) {
      if (closed) throw stateError(`consumer state file ${path} is closed`)
      let count: number
      try {
        count = writeWhole(path, ids, sync)
      } catch (err) {
        throw stateError(`cannot rewrite the consumer state file ${path}: ${(err as Error).message}`, err)
      } finally {
        // Whether or not the rename happened, the path names the file to append to:
        // the next append reopens it (never the replaced file's old descriptor).
        if (fd !== undefined) {
          try { closeSync(fd) } catch { /* already unusable */ }
          fd = undefined
        }
      }
      appendedLines = 0
      unsynced = false // the rewritten file holds everything and was fsync'd
      return count
    },
    close() {
      if (closed) return
      closed = true
      if (fd !== undefined) closeSync(fd)
      fd = undefined
      rmSync(lockPath, { force: true })
      heldHere.delete(lockPath)
    },
  }
}

function readState(path: string, staleLock: boolean): StateRecovery {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: [], badLines: 0, tornBytes: 0, created: true, staleLock }
    throw stateError(`cannot read the consumer state file ${path}: ${(err as Error).message}`, err)
  }
  if (bytes.length === 0) return { ids: [], badLines: 0, tornBytes: 0, created: true, staleLock }
  if (!bytes.subarray(0, STATE_HEADER.length).equals(Buffer.from(STATE_HEADER))) {
    throw stateError(`${path} is not an outpost consumer state file (it does not start with "${STATE_HEADER.trim()}"); refusing to use or overwrite it`)
  }
  const end = bytes.lastIndexOf(0x0a) + 1
  const tornBytes = bytes.length - end
  const lines = bytes.subarray(STATE_HEADER.length, end).toString('utf8').split('\n')
  lines.pop() // the empty string after the last newline
  const ids: string[] = []
  let badLines = 0
  for (const line of lines) {
    let id: unknown
    try {
      id = JSON.parse(line)
    } catch {
      id = undefined
    }
    if (typeof id === 'string' && id !== '') ids.push(id)
    else badLines++
  }
  return { ids, badLines, tornBytes, created: false, staleLock }
}

/** The whole file through a temp file and a rename: the old or the new one survives a crash, never a mix. */
function writeWhole(path: string, ids: Iterable<string>, sync: boolean): number {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  let count = 0
  try {
    const chunks: string[] = [STATE_HEADER]
    let pending = 0
    for (const id of ids) {
      chunks.push(JSON.stringify(id), '\n')
      count++
      if (++pending === 10_000) {
        writeAll(fd, Buffer.from(chunks.join('')))
        chunks.length = 0
        pending = 0
      }
    }
    writeAll(fd, Buffer.from(chunks.join('')))
    if (sync) fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  if (sync) syncDir(dirname(path))
  return count
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Locks this process holds: a second open in the same process is refused too. */
const heldHere = new Set<string>()

/** Create the lock file with our pid. Returns true when a stale lock was taken over. */
function takeLock(lockPath: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx')
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      heldHere.add(lockPath)
      return attempt > 0
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw stateError(`cannot create the lock file ${lockPath}: ${(err as Error).message}`, err)
      }
    }
    let owner = NaN
    try {
      owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10)
    } catch {
      // unreadable or vanished: treated as stale
    }
    if (Number.isSafeInteger(owner) && owner > 0 && (owner === process.pid ? heldHere.has(lockPath) : isAlive(owner))) {
      throw stateError(`the consumer state file is in use by process ${owner} (lock ${lockPath}); two consumers must not share a state file`)
    }
    try {
      unlinkSync(lockPath)
    } catch {
      // someone else removed it; try again
    }
  }
  throw stateError(`cannot take the lock ${lockPath}: another process keeps creating it`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function stateError(message: string, cause?: unknown): OutpostError {
  return new OutpostError(ErrorCodes.CONSUMER_STATE, message, cause === undefined ? undefined : { cause })
}
