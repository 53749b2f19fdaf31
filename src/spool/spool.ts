import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import { createDedupWindow, type DedupEntry } from './dedup-window.js'
import { createGroupCommit } from './group-commit.js'
import { dedupKey, eventId, seqKey } from './keys.js'
import { openDb, writeOps, type WriteOp } from './open-db.js'
import { decodeRecord, decodeValue, encodeRecord, encodeValue, RecordDecodeError } from './record-codec.js'
import { scanEvents } from './scan.js'
import type {
  AppendResult, DedupHint, EventInput, RejectedEvent, SpoolCheckReport, SpoolReader, SpoolStats, SpoolWriter, StoredEvent,
} from './types.js'

export interface SpoolOptions {
  dir: string
  gatewayId: string
  log: Logger
  /** How long an append may wait for others to share its fsync (ms). */
  groupCommitMs?: number
  /** A batch this large is written without waiting out groupCommitMs. */
  maxBatch?: number
  /** Compact the deleted head of the log after this many acks; 0 = never. */
  compactEveryAcks?: number
  /** Packet ids remembered per device for retransmission dedup. */
  dedupWindow?: number
  now?: () => number
}

export type SpoolStatus = 'open' | 'closing' | 'closed'

export interface Spool extends SpoolReader, SpoolWriter {
  readonly report: SpoolCheckReport
  readonly epoch: number
  readonly status: SpoolStatus
  listRejected(limit?: number): Promise<RejectedEvent[]>
  close(): Promise<void>
}

type BatchOp = WriteOp

const META_EPOCH = 'epoch'
const META_NEXT_SEQ = 'nextSeq'
const META_CLEAN = 'clean'

function digestOf(input: EventInput): string {
  return createHash('sha1')
    .update(input.topic).update('\u0000')
    .update(String(input.qos)).update(input.retain ? '1' : '0')
    .update(input.payload)
    .digest('base64')
}

/**
 * The durable event log. See docs/architecture.md for the key layout:
 * sublevel `e` holds events by sequence key, `m` metadata, `d` the dedup
 * window, `r` events the upstream refused, `q` values that could not be read.
 */
export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const log = opts.log
  const now = opts.now ?? Date.now
  const { db, repaired } = await openDb(opts.dir, log)
  const subOpts = { keyEncoding: 'utf8', valueEncoding: 'view' } as const
  const events = db.sublevel<string, Uint8Array>('e', subOpts)
  const meta = db.sublevel<string, Uint8Array>('m', subOpts)
  const dedupDb = db.sublevel<string, Uint8Array>('d', subOpts)
  const rejectedDb = db.sublevel<string, Uint8Array>('r', subOpts)
  const quarantine = db.sublevel<string, Uint8Array>('q', subOpts)

  const readMeta = async (key: string): Promise<unknown> => {
    const raw = await meta.get(key)
    if (raw === undefined) return undefined
    try {
      return decodeValue(raw)
    } catch {
      log.warn({ key }, 'spool metadata unreadable; recomputing it')
      return undefined
    }
  }

  const metaEpoch = await readMeta(META_EPOCH)
  const metaNextSeq = await readMeta(META_NEXT_SEQ)
  const cleanShutdown = (await readMeta(META_CLEAN)) === true

  const scan = await scanEvents(cleanShutdown ? events.keys() : events.iterator(), !cleanShutdown)
  for (const key of scan.unreadableKeys) {
    const raw = await events.get(key)
    await writeOps(db, [
      { type: 'put', sublevel: quarantine, key, value: raw ?? new Uint8Array() },
      { type: 'del', sublevel: events, key },
    ], true)
  }

  const epoch = (typeof metaEpoch === 'number' ? metaEpoch : 0) + 1
  let nextSeq = Math.max(typeof metaNextSeq === 'number' ? metaNextSeq : 0, scan.lastSeq === null ? 0 : scan.lastSeq + 1)
  // Taken at start so a crash before the first append still moves the epoch on.
  await writeOps(db, [
    { type: 'put', sublevel: meta, key: META_EPOCH, value: encodeValue(epoch) },
    { type: 'put', sublevel: meta, key: META_NEXT_SEQ, value: encodeValue(nextSeq) },
    { type: 'put', sublevel: meta, key: META_CLEAN, value: encodeValue(false) },
  ], true)

  const report: SpoolCheckReport = {
    records: scan.records, gaps: scan.gaps, unreadable: scan.unreadableKeys.length, epoch, cleanShutdown, repaired,
  }
  const reportLog = { ...report, gaps: scan.gaps.slice(0, 20), dir: opts.dir }
  if (scan.gaps.length > 0 || scan.unreadableKeys.length > 0 || repaired) {
    log.warn(reportLog, 'spool check found damage: gaps are sequence ranges missing between stored events ' +
      '(lost to store damage, or acknowledged out of order); unreadable records were moved to the quarantine sublevel')
  } else {
    log.info(reportLog, 'spool opened')
  }

  const dedup = createDedupWindow(opts.dedupWindow ?? 256)
  for await (const [key, raw] of dedupDb.iterator()) {
    const sep = key.lastIndexOf('\u0000')
    try {
      const v = decodeValue(raw) as { digest: string; seq: number; id: string }
      dedup.set(key.slice(0, sep), Number(key.slice(sep + 1)), { digest: v.digest, seq: v.seq, id: v.id, confirmed: false })
    } catch {
      log.warn({ key }, 'unreadable dedup entry skipped')
    }
  }

  let status: SpoolStatus = 'open'
  /** Every seq below this is acked, rejected or never stored. */
  let lowWater = scan.firstSeq ?? nextSeq
  /** Seqs at or above lowWater already removed (acks that came out of order). */
  const removedAbove = new Set<number>()
  /** Highest committed seq + 1: what the reader may see. */
  let committedNext = nextSeq
  let pending = scan.records
  const counters = { appended: 0, acked: 0, rejected: 0 }
  let acksSinceCompact = 0
  let compacting = false
  const listeners = new Set<() => void>()

  const gc = createGroupCommit<BatchOp>({
    delayMs: opts.groupCommitMs ?? 2,
    maxBatch: opts.maxBatch ?? 1024,
    write: async (ops) => {
      const upTo = nextSeq
      ops.push({ type: 'put', sublevel: meta, key: META_NEXT_SEQ, value: encodeValue(upTo) })
      await writeOps(db, ops, true)
    },
  })

  // Deletes after an upstream ack are not synced: a lost delete costs one re-send.
  let deletes: BatchOp[] = []
  let deleteTimer: NodeJS.Immediate | null = null
  let deleting: Promise<void> = Promise.resolve()
  const flushDeletes = (): void => {
    deleteTimer = null
    const ops = deletes
    deletes = []
    if (ops.length === 0) return
    deleting = deleting.then(() => writeOps(db, ops, false)).catch((err: unknown) => {
      log.warn({ err, count: ops.length }, 'deleting acknowledged records failed; they will be sent again after restart')
    })
  }

  function markRemoved(seq: number): void {
    if (seq < lowWater) return
    if (seq === lowWater) {
      lowWater++
      while (removedAbove.delete(lowWater)) lowWater++
    } else {
      removedAbove.add(seq)
    }
  }

  function notify(): void {
    for (const l of listeners) {
      try {
        l()
      } catch (err) {
        log.error({ err }, 'spool listener failed')
      }
    }
  }

  function maybeCompact(): void {
    const every = opts.compactEveryAcks ?? 50_000
    if (every <= 0 || acksSinceCompact < every || compacting) return
    acksSinceCompact = 0
    compacting = true
    const end = lowWater
    const started = now()
    deleting
      .then(() => db.compactRange(events.prefix + seqKey(0), events.prefix + seqKey(end)))
      .then(() => log.debug({ upTo: end, ms: now() - started }, 'spool compacted'))
      .catch((err: unknown) => log.warn({ err }, 'spool compaction failed'))
      .finally(() => { compacting = false })
  }

  function assertOpen(): void {
    if (status !== 'open') throw new OutpostError(ErrorCodes.SPOOL_CLOSED, 'spool is closed')
  }

  async function quarantineRecord(key: string, raw: Uint8Array, err: unknown): Promise<void> {
    log.error({ err, key, code: ErrorCodes.SPOOL_RECORD_UNREADABLE }, 'unreadable event record moved to quarantine; it will not be forwarded')
    await writeOps(db, [
      { type: 'put', sublevel: quarantine, key, value: raw },
      { type: 'del', sublevel: events, key },
    ], true)
  }

  const spool: Spool = {
    get report() { return report },
    get epoch() { return epoch },
    get status() { return status },

    append(input: EventInput, hint?: DedupHint): Promise<AppendResult> {
      if (status !== 'open') {
        return Promise.reject(new OutpostError(ErrorCodes.SPOOL_CLOSED, 'spool is closed'))
      }
      let digest: string | undefined
      let entry: DedupEntry | undefined
      if (hint) {
        digest = digestOf(input)
        const prior = dedup.get(input.clientId, hint.messageId)
        // A retransmission is DUP=1 [MQTT-3.3.1-1], or the same packet id and
        // content re-sent before the device can have had a PUBACK for it: the
        // original is still being written, or was stored by a run that died
        // before acknowledging (MQTT.js, for one, re-sends with DUP=0).
        if (prior && prior.digest === digest && (hint.retransmit || !prior.confirmed)) {
          return gc.drain().then(() => {
            prior.confirmed = true
            return { seq: prior.seq, id: prior.id, duplicate: true }
          })
        }
      }
      const seq = nextSeq++
      const id = eventId(opts.gatewayId, epoch, seq)
      const record: StoredEvent = { ...input, seq, id, acceptedAt: now() }
      const ops: BatchOp[] = [{ type: 'put', sublevel: events, key: seqKey(seq), value: encodeRecord(record) }]
      if (hint && digest !== undefined) {
        entry = { digest, seq, id, confirmed: false }
        const evicted = dedup.set(input.clientId, hint.messageId, entry)
        ops.push({ type: 'put', sublevel: dedupDb, key: dedupKey(input.clientId, hint.messageId), value: encodeValue({ digest, seq, id }) })
        if (evicted !== undefined) ops.push({ type: 'del', sublevel: dedupDb, key: dedupKey(input.clientId, evicted) })
      }
      return gc.submit(ops).then(
        () => {
          if (entry) entry.confirmed = true
          counters.appended++
          pending++
          if (seq + 1 > committedNext) committedNext = seq + 1
          queueMicrotask(notify)
          return { seq, id, duplicate: false }
        },
        (err: unknown) => {
          markRemoved(seq)
          if (hint) dedup.forget(input.clientId, hint.messageId, seq)
          throw new OutpostError(ErrorCodes.SPOOL_WRITE, `could not store event from ${input.clientId} on ${input.topic}: ${(err as Error).message}`, { cause: err })
        },
      )
    },

    async readAfter(afterSeq: number, limit: number): Promise<StoredEvent[]> {
      assertOpen()
      const fromHead = afterSeq < 0
      const start = fromHead ? lowWater : Math.max(afterSeq + 1, lowWater)
      const out: StoredEvent[] = []
      for await (const [key, raw] of events.iterator({ gte: seqKey(start), lt: seqKey(committedNext), limit })) {
        const seq = Number.parseInt(key, 16)
        try {
          out.push(decodeRecord(seq, raw))
        } catch (err) {
          if (!(err instanceof RecordDecodeError)) throw err
          await quarantineRecord(key, raw, err)
          markRemoved(seq)
          pending--
        }
      }
      // Everything below the first record found is gone: skip it next time.
      if (fromHead) {
        const first = out[0]?.seq ?? (out.length === 0 && limit > 0 ? committedNext : lowWater)
        while (lowWater < first) {
          removedAbove.delete(lowWater)
          lowWater++
        }
      }
      return out
    },

    ack(seq: number): void {
      if (status === 'closed') return
      if (seq < lowWater || removedAbove.has(seq)) return
      markRemoved(seq)
      pending--
      counters.acked++
      acksSinceCompact++
      deletes.push({ type: 'del', sublevel: events, key: seqKey(seq) })
      deleteTimer ??= setImmediate(flushDeletes)
      maybeCompact()
    },

    async noteAttempt(seq: number): Promise<void> {
      assertOpen()
      const key = seqKey(seq)
      const raw = await events.get(key)
      if (raw === undefined) return
      const event = decodeRecord(seq, raw)
      event.attempts = (event.attempts ?? 0) + 1
      await gc.submit([{ type: 'put', sublevel: events, key, value: encodeRecord(event) }])
    },

    async reject(event: StoredEvent, reason: string, reasonCode?: number): Promise<void> {
      assertOpen()
      const key = seqKey(event.seq)
      const entry: RejectedEvent = { event, reason, rejectedAt: now() }
      if (reasonCode !== undefined) entry.reasonCode = reasonCode
      await gc.submit([
        { type: 'put', sublevel: rejectedDb, key, value: encodeValue(entry) },
        { type: 'del', sublevel: events, key },
      ])
      if (event.seq >= lowWater && !removedAbove.has(event.seq)) {
        markRemoved(event.seq)
        pending--
        counters.rejected++
      }
    },

    async listRejected(limit = 1000): Promise<RejectedEvent[]> {
      const out: RejectedEvent[] = []
      for await (const [key, raw] of rejectedDb.iterator({ limit })) {
        try {
          out.push(decodeValue(raw) as RejectedEvent)
        } catch (err) {
          log.warn({ err, key }, 'unreadable rejected entry skipped')
        }
      }
      return out
    },

    onAppend(listener: () => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    stats(): SpoolStats {
      return {
        pending,
        headSeq: pending > 0 ? lowWater : null,
        nextSeq,
        ...counters,
      }
    },

    async close(): Promise<void> {
      if (status !== 'open') return
      status = 'closing'
      listeners.clear()
      await gc.drain()
      if (deleteTimer) clearImmediate(deleteTimer)
      flushDeletes()
      await deleting
      await writeOps(db, [{ type: 'put', sublevel: meta, key: META_CLEAN, value: encodeValue(true) }], true)
      await db.close()
      status = 'closed'
    },
  }
  return spool
}
