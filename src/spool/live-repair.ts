import { mkdir } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import type { Logger } from 'pino'
import { ErrorCodes } from '../errors.js'
import { lostRanges, moveAside, seqSet, setAside } from './damage-report.js'
import { checkEvents, type OpenCheck } from './open-check.js'
import { writeOps, type SpoolDb, type SpoolSublevel } from './open-db.js'

export interface LiveRepairContext {
  dir: string
  log: Logger
  db: SpoolDb
  events: SpoolSublevel
  quarantine: SpoolSublevel
  /** Every sublevel, opened again after the database is. */
  sublevels: SpoolSublevel[]
  /** Let the writes in flight finish before the database closes. */
  quiesce(): Promise<void>
  /** The log as the spool knew it: lowest unacknowledged seq, next seq to be read. */
  head: number
  end: number
  /** Acknowledged (deleted on purpose) above the head. */
  acked(seq: number): boolean
}

export interface LiveRepairResult {
  scan: OpenCheck
  /** Ranges that should have been there and are not (acknowledged ones left out). */
  lost: Array<{ from: number; to: number }>
  lostCount: number
  setAside: string | null
}

/**
 * LevelDB found damage while reading: a garbled block inside a table (bytes
 * overwritten, same file size), which no check at open can see without
 * reading everything. Close, set the files aside, repair (or, if that fails,
 * move the store aside and go on with an empty one), open again, and count
 * what is gone. The spool then adopts the result (spool.ts).
 */
export async function repairWhileOpen(ctx: LiveRepairContext): Promise<LiveRepairResult> {
  const { log, db } = ctx
  await ctx.quiesce()
  await db.close()
  let aside: string | null = null
  try {
    aside = await setAside(ctx.dir)
  } catch (err) {
    log.error({ err }, 'could not set the damaged spool files aside; repairing anyway')
  }
  try {
    await ClassicLevel.repair(ctx.dir)
    await db.open()
  } catch (err) {
    const moved = await moveAside(ctx.dir)
    await mkdir(ctx.dir, { recursive: true })
    await db.open()
    log.error({ err, movedTo: moved, code: ErrorCodes.SPOOL_DAMAGED }, 'spool could not be repaired: moved aside whole, going on with an empty one')
    aside ??= moved
  }
  for (const sub of ctx.sublevels) await sub.open()
  const scan = await checkEvents(ctx.events, { cleanShutdown: false, counters: null, full: true })
  for (const key of scan.unreadableKeys) {
    const raw = await ctx.events.get(key)
    await writeOps(db, [
      { type: 'put', sublevel: ctx.quarantine, key, value: raw ?? new Uint8Array() },
      { type: 'del', sublevel: ctx.events, key },
    ], true)
  }
  const quarantined = seqSet(scan.unreadableKeys)
  const lost = lostRanges(ctx.head, ctx.end, scan, (seq) => ctx.acked(seq) || quarantined.has(seq))
  return { scan, lost, lostCount: lost.reduce((n, r) => n + r.to - r.from + 1, 0), setAside: aside }
}
