/**
 * The dead-letter store: events a contract refused, with the reason, kept in
 * arrival order in their own LevelDB (`<dataDir>/dlq`). Bounded by entries and
 * bytes: when full, the oldest entries are dropped, counted (persisted) and
 * logged. Writes are synced and grouped like the spool's, so an event is on
 * disk before the device gets its PUBACK.
 */
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import { createGroupCommit } from '../spool/group-commit.js'
import { parseSeqKey, seqKey } from '../spool/keys.js'
import { openDb, SMALL_DB_MEMORY, writeOps, type WriteOp } from '../spool/open-db.js'
import { decodeValue, encodeValue } from '../spool/record-codec.js'
import type { DeadLetterInput } from './types.js'

export interface DeadLetter extends DeadLetterInput {
  /** Position in the store: arrival order, never reused. */
  seq: number
  /** Milliseconds since the Unix epoch when the gateway set the event aside. */
  at: number
}

export interface DeadLetterStats {
  entries: number
  bytes: number
  /** Entries dropped because the store was full, since it was created. */
  dropped: number
  added: number
}

export interface DeadLetterStore {
  add(entry: DeadLetterInput): Promise<void>
  /** Entries with seq > after, oldest first. */
  list(opts?: { after?: number; limit?: number }): Promise<DeadLetter[]>
  get(seq: number): Promise<DeadLetter | undefined>
  /** Remove entries (synced); returns how many existed. */
  remove(seqs: readonly number[]): Promise<number>
  stats(): DeadLetterStats
  close(): Promise<void>
}

export interface DeadLetterOptions {
  dir: string
  log: Logger
  maxEntries: number
  maxBytes: number
  now?: () => number
}

const META_NEXT = 'nextSeq'
const META_DROPPED = 'dropped'
const DROP_LOG_EVERY = 1000

function toEntry(seq: number, raw: Uint8Array): DeadLetter {
  const v = decodeValue(raw) as Omit<DeadLetter, 'seq'>
  return { ...v, payload: new Uint8Array(v.payload), seq }
}

export async function openDeadLetterStore(opts: DeadLetterOptions): Promise<DeadLetterStore> {
  const { log } = opts
  const now = opts.now ?? Date.now
  let opened
  try {
    opened = await openDb(opts.dir, log, { label: 'dead-letter store', code: ErrorCodes.DLQ_OPEN }, { memory: SMALL_DB_MEMORY })
  } catch (err) {
    const cause = (err as { cause?: { code?: string; cause?: { code?: string } } }).cause
    if (cause?.code === 'LEVEL_LOCKED' || cause?.cause?.code === 'LEVEL_LOCKED') {
      throw new OutpostError(ErrorCodes.DLQ_LOCKED,
        `dead-letter store ${opts.dir} is in use by another process: a gateway is running on this data directory; stop it first`, { cause: err })
    }
    throw err
  }
  const { db } = opened
  const subOpts = { keyEncoding: 'utf8', valueEncoding: 'view' } as const
  const entriesDb = db.sublevel<string, Uint8Array>('e', subOpts)
  const meta = db.sublevel<string, Uint8Array>('m', subOpts)
  const readNum = async (key: string): Promise<number> => {
    const raw = await meta.get(key)
    const v = raw === undefined ? 0 : decodeValue(raw)
    return typeof v === 'number' ? v : 0
  }

  /** seq -> stored size, in arrival order (Map keeps insertion order). */
  const sizes = new Map<number, number>()
  let bytes = 0
  let lastSeq = -1
  for await (const [key, raw] of entriesDb.iterator()) {
    const seq = parseSeqKey(key)
    if (seq === null) continue
    sizes.set(seq, raw.length)
    bytes += raw.length
    lastSeq = seq
  }
  let nextSeq = Math.max(await readNum(META_NEXT), lastSeq + 1)
  let dropped = await readNum(META_DROPPED)
  let added = 0
  let closed = false

  const gc = createGroupCommit<WriteOp>({
    delayMs: 1,
    maxBatch: 512,
    write: async (ops) => {
      ops.push({ type: 'put', sublevel: meta, key: META_NEXT, value: encodeValue(nextSeq) })
      ops.push({ type: 'put', sublevel: meta, key: META_DROPPED, value: encodeValue(dropped) })
      try {
        await writeOps(db, ops, true)
      } catch (err) {
        throw new OutpostError(ErrorCodes.DLQ_WRITE, `cannot write to the dead-letter store: ${(err as Error).message}`, { cause: err })
      }
    },
  })

  function evictFor(size: number): WriteOp[] {
    const ops: WriteOp[] = []
    let evicted = 0
    while (sizes.size > 0 && (sizes.size + 1 > opts.maxEntries || bytes + size > opts.maxBytes)) {
      const [seq, s] = sizes.entries().next().value as [number, number]
      sizes.delete(seq)
      bytes -= s
      ops.push({ type: 'del', sublevel: entriesDb, key: seqKey(seq) })
      evicted++
    }
    if (evicted > 0) {
      const before = dropped
      dropped += evicted
      if (before === 0 || Math.floor(before / DROP_LOG_EVERY) !== Math.floor(dropped / DROP_LOG_EVERY)) {
        log.warn({ dropped, entries: sizes.size, bytes, maxEntries: opts.maxEntries, maxBytes: opts.maxBytes },
          'dead-letter store full: dropped the oldest entries (logged on the first drop and every 1000 after; the count is kept in `outpost dlq list`)')
      }
    }
    return ops
  }

  const store: DeadLetterStore = {
    add(entry) {
      if (closed) return Promise.reject(new OutpostError(ErrorCodes.DLQ_WRITE, 'dead-letter store is closed'))
      const seq = nextSeq++
      const value = encodeValue({ ...entry, at: now() })
      const ops = evictFor(value.length)
      ops.push({ type: 'put', sublevel: entriesDb, key: seqKey(seq), value })
      sizes.set(seq, value.length)
      bytes += value.length
      added++
      return gc.submit(ops)
    },
    async list({ after = -1, limit = Number.MAX_SAFE_INTEGER } = {}) {
      const out: DeadLetter[] = []
      const range = after < 0 ? { limit } : { gt: seqKey(after), limit }
      for await (const [key, raw] of entriesDb.iterator(range)) {
        const seq = parseSeqKey(key)
        if (seq === null) continue
        try {
          out.push(toEntry(seq, raw))
        } catch (err) {
          log.warn({ err, seq }, 'unreadable dead-letter entry skipped')
        }
      }
      return out
    },
    async get(seq) {
      const raw = await entriesDb.get(seqKey(seq))
      return raw === undefined ? undefined : toEntry(seq, raw)
    },
    async remove(seqs) {
      await gc.drain()
      const ops: WriteOp[] = []
      for (const seq of seqs) {
        const s = sizes.get(seq)
        if (s === undefined) continue
        sizes.delete(seq)
        bytes -= s
        ops.push({ type: 'del', sublevel: entriesDb, key: seqKey(seq) })
      }
      if (ops.length > 0) await writeOps(db, ops, true)
      return ops.length
    },
    stats: () => ({ entries: sizes.size, bytes, dropped, added }),
    async close() {
      if (closed) return
      closed = true
      await gc.drain()
      await db.close()
    },
  }
  return store
}
