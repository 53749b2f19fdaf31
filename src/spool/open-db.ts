import { mkdir } from 'node:fs/promises'
import type { AbstractSublevel } from 'abstract-level'
import { ClassicLevel } from 'classic-level'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError, type ErrorCode } from '../errors.js'
import { checkFiles, moveAside, setAside } from './damage-report.js'
import { seqKey } from './keys.js'
import type { PutSlab } from './put-slab.js'

export type SpoolDb = ClassicLevel<string, Uint8Array>

export function causeCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } }
  return e?.cause?.code ?? e?.code
}

export interface OpenedDb {
  db: SpoolDb
  /** LevelDB's repair ran before the store would open. */
  repaired: boolean
  /** Where the damaged files were set aside (or the whole store moved), if anywhere. */
  setAside: string | null
  /** The store could not be repaired: it was moved aside whole and this one is new and empty. */
  startedEmpty: boolean
  /** What was found wrong, in words. */
  problems: string[]
}

function errorText(err: unknown): string {
  return `${(err as Error)?.message ?? ''} ${((err as { cause?: Error })?.cause)?.message ?? ''}`
}

function isDamage(err: unknown): boolean {
  if (causeCode(err) === 'LEVEL_CORRUPTION') return true
  return /corrupt|No such file/i.test(errorText(err))
}

/**
 * Open a LevelDB directory (the spool, or the session store with its own label
 * and code). A store another process holds is a clear error (two gateways on
 * one spool would corrupt it). A damaged store (LevelDB says corrupt, or the
 * files are missing or changed since the last clean close, see
 * damage-report.ts) is set aside as it is, then repaired (LevelDB keeps every
 * record it can still read). If even the repair fails, the store is moved
 * aside whole and an empty one started, with a loud error: the gateway keeps
 * serving and never crash-loops on a broken disk.
 */
/**
 * LevelDB's memory per open store: `cacheSize` bounds the cache of
 * uncompressed table blocks (filled by reads), `writeBufferSize` the memtable
 * (filled by writes; the write-ahead log holds the same bytes on disk). Both
 * live outside V8's heap, in the process's RSS. See "Memory" in
 * docs/architecture.md.
 */
export interface DbMemory {
  cacheSize: number
  writeBufferSize: number
}

/**
 * The spool's: LevelDB's defaults. A 2 MiB block cache measured the same RSS
 * after draining a 200k backlog as 8 MiB (LevelDB reads table files through
 * mmap and does not cache those blocks), and a smaller memtable means more
 * table files and compactions while appending.
 */
export const SPOOL_DB_MEMORY: DbMemory = { cacheSize: 8 * 1024 * 1024, writeBufferSize: 4 * 1024 * 1024 }

/** The small stores (device sessions, dead letters): little data, few writes. */
export const SMALL_DB_MEMORY: DbMemory = { cacheSize: 512 * 1024, writeBufferSize: 512 * 1024 }

export async function openDb(dir: string, log: Logger, what: { label: string; code: ErrorCode } = { label: 'spool', code: ErrorCodes.SPOOL_OPEN },
  opts: { waitForSpaceMs?: number; memory?: DbMemory } = {}): Promise<OpenedDb> {
  const { label } = what
  await mkdir(dir, { recursive: true })
  const attempt = async (): Promise<SpoolDb> => {
    // Opening writes (the write-ahead log becomes a table, a new MANIFEST): on a full disk it fails.
    // With waitForSpaceMs, wait for space instead of failing the start (a supervisor would restart
    // the gateway into the same failure, again and again).
    let loggedAt = Number.NEGATIVE_INFINITY
    for (;;) {
      const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', ...(opts.memory ?? SPOOL_DB_MEMORY) })
      try {
        await db.open()
        return db
      } catch (err) {
        if (opts.waitForSpaceMs === undefined || !/No space left on device/i.test(errorText(err))) throw err
        if (Date.now() - loggedAt >= 60_000) {
          loggedAt = Date.now()
          log.error({ err, dir, code: ErrorCodes.SPOOL_UNAVAILABLE },
            `${label} cannot be opened: the disk is full. Waiting for free space; devices cannot connect meanwhile`)
        }
        await new Promise((r) => setTimeout(r, opts.waitForSpaceMs))
      }
    }
  }
  const problems = await checkFiles(dir)
  if (problems.length === 0) {
    try {
      return { db: await attempt(), repaired: false, setAside: null, startedEmpty: false, problems }
    } catch (err) {
      const code = causeCode(err)
      if (code === 'LEVEL_LOCKED') {
        throw new OutpostError(what.code === ErrorCodes.SPOOL_OPEN ? ErrorCodes.SPOOL_LOCKED : what.code,
          `${label} ${dir} is locked by another process (is another Outpost running on the same data directory?)`, { cause: err })
      }
      if (!isDamage(err)) {
        throw new OutpostError(what.code, `cannot open ${label} ${dir}: ${(err as Error).message}`, { cause: err })
      }
      problems.push(`${(err as Error).message}: ${((err as { cause?: Error }).cause)?.message ?? ''}`.trim())
    }
  }
  let aside: string | null = null
  try {
    aside = await setAside(dir)
  } catch (err) {
    log.error({ err, dir }, `could not set the damaged ${label} files aside; repairing anyway`)
  }
  log.error({ dir, problems, setAside: aside, code: ErrorCodes.SPOOL_DAMAGED },
    `${label} is damaged; its files were set aside and LevelDB repairs it (keeping every record it can still read)`)
  try {
    await ClassicLevel.repair(dir)
    return { db: await attempt(), repaired: true, setAside: aside, startedEmpty: false, problems }
  } catch (err) {
    let moved: string
    try {
      moved = await moveAside(dir)
      await mkdir(dir, { recursive: true })
    } catch (err2) {
      throw new OutpostError(what.code, `${label} ${dir} is damaged, could not be repaired (${(err as Error).message}) nor moved aside: ${(err2 as Error).message}`, { cause: err2 })
    }
    log.error({ err, dir, movedTo: moved, setAside: aside, code: ErrorCodes.SPOOL_DAMAGED },
      `${label} could not be repaired: the whole store was moved aside and the gateway starts on an EMPTY ${label}; the events in it are not forwarded`)
    return { db: await attempt(), repaired: false, setAside: aside ?? moved, startedEmpty: true, problems }
  }
}

/** A put or del, at the root or in a sublevel. */
export type WriteOp =
  | { type: 'put'; key: string; value: Uint8Array; sublevel?: SpoolSublevel }
  | { type: 'del'; key: string; sublevel?: SpoolSublevel }

export type SpoolSublevel = AbstractSublevel<SpoolDb, string | Buffer | Uint8Array, string, Uint8Array>

const BUFFER_KEY = Object.freeze({ keyEncoding: 'buffer' })
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/**
 * Deletes of the records with these seqs under `prefix` (the events sublevel) and `ops` (the
 * counters) in one write: the seqs as plain numbers, no op object per record. Each key is written
 * into one Buffer, reused: LevelDB's batch copies a key when it is added, and a Buffer reaches it
 * without a string built and converted per key (measured 0.39-0.47 -> 0.29-0.32 us per delete).
 */
export function writeDeletes(db: SpoolDb, prefix: string, seqs: readonly number[], ops: readonly WriteOp[], sync: boolean): Promise<void> {
  const batch = db.batch()
  const key = Buffer.from(prefix + seqKey(0), 'latin1')
  for (let i = 0; i < seqs.length; i++) {
    setSeqKey(key, seqs[i]!)
    batch.del(key as unknown as string, BUFFER_KEY)
  }
  addOps(batch, ops)
  return batch.write({ sync })
}

/**
 * Write ops as one atomic LevelDB batch: a chained batch on the root database
 * with the sublevel prefix added here. `npx tsx bench/level-batch.ts` measured
 * that form at 5-8 us of CPU per event against 21-30 us for abstract-level's
 * array batch or per-op sublevel options, which copy and re-validate every op.
 * Keys and values are utf8 strings and byte arrays, as every store here uses.
 */
export function writeOps(db: SpoolDb, ops: readonly WriteOp[], sync: boolean): Promise<void> {
  const batch = db.batch()
  addOps(batch, ops)
  return batch.write({ sync })
}

/**
 * The records of a put slab (put-slab.ts) under `prefix` (the events
 * sublevel), then `ops`, in one write. A number in `ops` stands for one of the
 * slab's records and adds nothing. The slab is emptied whatever happens: its
 * records belong to this write, and a write that fails takes them with it.
 */
export function writeAppends(db: SpoolDb, prefix: string, slab: PutSlab, ops: ReadonlyArray<WriteOp | number>, sync: boolean): Promise<void> {
  let batch: ReturnType<SpoolDb['batch']>
  try {
    batch = db.batch()
  } catch (err) {
    slab.take(ignore)
    throw err
  }
  const key = Buffer.from(prefix + seqKey(0), 'latin1')
  slab.take((seq, value) => {
    setSeqKey(key, seq)
    batch.put(key as unknown as string, value, BUFFER_KEY)
  })
  addOps(batch, ops)
  return batch.write({ sync })
}

const ignore = (): void => undefined

function addOps(batch: ReturnType<SpoolDb['batch']>, ops: ReadonlyArray<WriteOp | number>): void {
  for (const op of ops) {
    if (typeof op === 'number') continue
    const key = op.sublevel ? op.sublevel.prefix + op.key : op.key
    if (op.type === 'put') batch.put(key, op.value)
    else batch.del(key)
  }
}

/** seqKey's 16 lowercase hex digits of `seq`, over the last 16 bytes of `key`, in place. */
function setSeqKey(key: Buffer, seq: number): void {
  const last = key.length - 1
  for (let j = last; j > last - 16; j--) {
    key[j] = HEX[seq % 16]!
    seq = Math.floor(seq / 16)
  }
}
