import type { ClassicLevel } from 'classic-level'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import { createGroupCommit } from '../spool/group-commit.js'
import { openDb, SMALL_DB_MEMORY, writeOps, type WriteOp } from '../spool/open-db.js'

export type SessionDb = ClassicLevel<string, Uint8Array>

/** Session-store writes live at the root of their own database: no sublevels. */
export type Op = WriteOp

/** Open (creating the directory); a store LevelDB calls corrupt is repaired once. */
export async function openSessionDb(dir: string, log: Logger): Promise<SessionDb> {
  // Sessions are small and change only when devices connect or subscribe: a
  // small block cache and memtable (see SMALL_DB_MEMORY).
  const { db } = await openDb(dir, log, { label: 'session store', code: ErrorCodes.SESSION_STORE_OPEN }, { memory: SMALL_DB_MEMORY })
  return db
}

/**
 * Group commit: ops submitted within `delayMs` of each other (or while a write
 * is in flight) share one `batch(..., { sync: true })`. Batches are written one
 * at a time, in submission order, so the disk sees mutations in call order.
 */
export interface BatchWriter {
  /** Resolves once the ops are on disk (fsync'd). */
  write(ops: Op[]): Promise<void>
  /** Same ordering, but nobody waits: for mutations whose loss only causes a re-send. */
  writeLater(ops: Op[]): void
  /** Writes what is pending, then refuses new ops. */
  close(): Promise<void>
}

export function createBatchWriter(opts: { db: SessionDb; delayMs: number; log: Logger }): BatchWriter {
  const { db, log } = opts
  let closed = false
  const gc = createGroupCommit<Op>({
    delayMs: opts.delayMs,
    maxBatch: 1024,
    write: (ops) => writeOps(db, ops, true),
  })
  const submit = (ops: Op[]): Promise<void> => gc.submit(ops).catch((err: unknown) => {
    log.error({ err, ops: ops.length }, 'session store write failed')
    throw new OutpostError(ErrorCodes.SESSION_STORE_WRITE, `session store write failed: ${(err as Error).message}`, { cause: err })
  })

  return {
    write(ops) {
      if (ops.length === 0) return Promise.resolve()
      if (closed) return Promise.reject(new OutpostError(ErrorCodes.SESSION_STORE_CLOSED, 'session store is closed'))
      return submit(ops)
    },
    writeLater(ops) {
      if (ops.length === 0) return
      if (closed) {
        log.debug({ ops: ops.length }, 'session store closed: dropped a late write')
        return
      }
      submit(ops).catch(() => { /* logged above; losing it only causes a re-send */ })
    },
    async close() {
      closed = true
      await gc.drain()
    },
  }
}
