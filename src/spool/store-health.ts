import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ErrorCodes } from '../errors.js'

/**
 * Whether the spool's LevelDB takes writes, and getting it back when it does
 * not. Measured with classic-level 3 on a full tmpfs: after one failed write
 * (ENOSPC on the write-ahead log) LevelDB keeps the error and refuses every
 * later write, deletes included, until the database is closed and opened again,
 * even once space is back; reads keep working. Opening again replays the log
 * into a new table file, so it fails while the disk is still full, and a failed
 * open leaves the database closed (reads fail too). So a reopen is tried only
 * when statfs reports room for the log files plus a margin, at most once per
 * disk check.
 */
export type StoreHealthState = 'ok' | 'unavailable' | 'reopening'

export interface StoreHealthOptions {
  dir: string
  log: Logger
  /** Close and open the database again; rejects if the open fails. */
  reopen: () => Promise<void>
  /** Extra free bytes required before a reopen is tried (the retention floor). */
  minFreeBytes: number
  /** Called once the store takes writes again. */
  onRecovered: () => void
}

export interface StoreHealth {
  readonly state: StoreHealthState
  readonly writable: boolean
  /** The last write error, while unavailable. */
  readonly lastError: unknown
  /** A write failed: refuse writes until a reopen succeeds. */
  writeFailed(err: unknown): void
  /** A disk check: while unavailable, reopen if there is room. */
  diskSample(freeBytes: number | null): Promise<void>
  /** Resolves when no reopen is in progress. */
  settled(): Promise<void>
}

/** Room LevelDB needs to reopen: its log files become tables, plus 1 MiB. */
export async function reopenNeeds(dir: string): Promise<number> {
  let logs = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith('.log')) logs += await stat(join(dir, name)).then((s) => s.size, () => 0)
  }
  return logs + 1024 * 1024
}

export function createStoreHealth(opts: StoreHealthOptions): StoreHealth {
  let state: StoreHealthState = 'ok'
  let lastError: unknown = null
  let reopening: Promise<void> = Promise.resolve()

  return {
    get state() { return state },
    get writable() { return state === 'ok' },
    get lastError() { return lastError },

    writeFailed(err) {
      lastError = err
      if (state !== 'ok') return
      state = 'unavailable'
      opts.log.error({ err, code: ErrorCodes.SPOOL_UNAVAILABLE, dir: opts.dir },
        'spool write failed (disk full or I/O error): new events are not acknowledged until it is written again; ' +
        'stored events are still forwarded; the store is reopened when the disk has room')
    },

    async diskSample(freeBytes) {
      if (state !== 'unavailable') return
      const needs = await reopenNeeds(opts.dir) + opts.minFreeBytes
      if (freeBytes !== null && freeBytes < needs) {
        opts.log.debug({ freeBytes, needs }, 'spool still lacks room to reopen')
        return
      }
      state = 'reopening'
      reopening = opts.reopen().then(
        () => {
          state = 'ok'
          lastError = null
          opts.log.warn({ dir: opts.dir, freeBytes }, 'spool reopened after a failed write; accepting new events again')
          opts.onRecovered()
        },
        (err: unknown) => {
          state = 'unavailable'
          lastError = err
          opts.log.error({ err, code: ErrorCodes.SPOOL_UNAVAILABLE, freeBytes }, 'spool could not be reopened yet; trying again at the next disk check')
        },
      )
      await reopening
    },

    settled: () => reopening,
  }
}
