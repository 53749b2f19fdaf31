import type { Logger } from 'pino'
import { asError, ErrorCodes, OutpostError } from '../errors.js'
import { createCommitTiming, type CommitTimes } from './commit-timing.js'
import { createDedupWindow, type DedupEntry } from './dedup-window.js'
import { eventDigest } from './digest.js'
import { createDiskGuard, type StatFs } from './disk-guard.js'
import { createGroupCommit } from './group-commit.js'
import { headCompactionDue, isBacklog, type HeadCompactionInput } from './compaction-policy.js'
import { eventId, seqKey, seqKeyAt } from './keys.js'
import { createDedupKeyIndex, decodeDedupKey, dedupBatchKey, dedupPrefix, encodeDedupBatch } from './dedup-store.js'
import { checkEvents } from './open-check.js'
import { lostRanges, recordFiles, seqSet } from './damage-report.js'
import { repairWhileOpen } from './live-repair.js'
import { causeCode, openDb, writeAppends, writeDeletes, writeOps, type WriteOp } from './open-db.js'
import { createPutSlab } from './put-slab.js'
import { decodeRecord, decodeValue, encodeRecord, encodeValue, RecordDecodeError } from './record-codec.js'
import { admit, NO_LIMITS, trimTarget, type FullReason, type RetentionLimits, type StoreState } from './retention.js'
import { createRetentionRunner } from './retention-runner.js'
import { createStoreHealth } from './store-health.js'
import { createTailCache } from './tail-cache.js'
import { TAIL_IDLE, tailLimits, type TailLimits } from './tail-sizing.js'
import { createReadSizes } from './read-sizes.js'
import { plainEvent, readRaw } from './raw-event.js'
import type {
  AppendCallback, AppendResult, DedupHint, EventInput, ReadOptions, RejectedEvent, SpoolCheckReport, SpoolReader, SpoolStats, SpoolWriter, StoredEvent,
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
  /** Retention limits; none by default. */
  limits?: Partial<RetentionLimits>
  /** How often free disk space and event ages are checked (ms). */
  checkIntervalMs?: number
  /** For tests: a statfs stand-in. */
  statfs?: StatFs
  /** Newest committed records kept in memory for the uplink's reads (tail-cache.ts); 0 = none. */
  tailRecords?: number
}

export type SpoolStatus = 'open' | 'closing' | 'closed'

export interface Spool extends SpoolReader, SpoolWriter {
  readonly report: SpoolCheckReport
  readonly epoch: number
  readonly status: SpoolStatus
  listRejected(limit?: number): Promise<RejectedEvent[]>
  onWritable(listener: () => void): () => void
  writable(): boolean
  close(): Promise<void>
  /** Synced-write (group commit) times since the previous call: for the status log. */
  takeCommitTimes(): CommitTimes
  appendThen(input: EventInput, dedup: DedupHint | undefined, done: AppendCallback): void
}

type BatchOp = WriteOp
/** What the group commit carries: ops, and for each append its seq (its record is in the put slab). */
type CommitOp = BatchOp | number

/** Records read from the store, in key order, not decoded yet. */
interface RecordsRead {
  /** Keys as the root store gives them: with the events sublevel's prefix. */
  keys: string[]
  seqs: number[]
  values: Uint8Array[]
  /** A seq in the range read is missing and nothing removed it. */
  suspect: boolean
  /** The read covers [start, upTo). */
  upTo: number
}

const META_EPOCH = 'epoch'
const META_NEXT_SEQ = 'nextSeq'
const META_CLEAN = 'clean'
const META_PENDING = 'pending'
const META_BYTES = 'bytes'
const META_HEAD = 'head'
/** Logical size of a record: its key plus its encoded value. */
const KEY_BYTES = 16
/** A read from the store returns fewer records than asked once their values reach this many bytes. */
const READ_MAX_BYTES = 8 * 1024 * 1024
/** A store read asks LevelDB for this many records at a time (nextv)... */
const READ_CHUNK = 1024
/** ...or fewer once their keys and values pass this many bytes (classic-level's highWaterMarkBytes). */
const READ_CHUNK_BYTES = 1024 * 1024
/** Sizes of records handed to the reader, for exact byte accounting on ack; the oldest reads are forgotten above this. */
const MAX_SIZES = 20_000
const INTAKE_LOG_MS = 30_000
/** Acked records are deleted in batches of up to this many, or after DELETE_DELAY_MS. */
const DELETE_BATCH = 2048
const DELETE_DELAY_MS = 5


/** A refused append answers after the call returns, as a settled promise would. */
function refuseLater(done: AppendCallback, err: Error): void {
  queueMicrotask(() => done(err, -1, '', false))
}

/**
 * The durable event log. See docs/architecture.md for the key layout:
 * sublevel `e` holds events by sequence key, `m` metadata, `d` the dedup
 * window, `r` events the upstream refused, `q` values that could not be read.
 */
export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const log = opts.log
  const now = opts.now ?? Date.now
  const { db, repaired, setAside: asideDir, startedEmpty, problems } = await openDb(opts.dir, log, undefined, { waitForSpaceMs: opts.checkIntervalMs ?? 5000 })
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
  const metaPending = await readMeta(META_PENDING)
  const metaBytes = await readMeta(META_BYTES)
  const stored = typeof metaPending === 'number' && typeof metaBytes === 'number' ? { pending: metaPending, bytes: metaBytes } : null

  const metaHead = await readMeta(META_HEAD)
  const scan = await checkEvents(events, { cleanShutdown, counters: stored, full: repaired || startedEmpty })
  for (const key of scan.unreadableKeys) {
    const raw = await events.get(key)
    await writeOps(db, [
      { type: 'put', sublevel: quarantine, key, value: raw ?? new Uint8Array() },
      { type: 'del', sublevel: events, key },
    ], true)
  }

  let epoch = (typeof metaEpoch === 'number' ? metaEpoch : 0) + 1
  // Without the stored epoch after damage, ids must still never repeat: take one from the clock
  // (seconds since 1970, far above any count of restarts).
  if ((repaired || startedEmpty) && typeof metaEpoch !== 'number') epoch = Math.max(epoch, Math.floor(now() / 1000))
  let nextSeq = Math.max(typeof metaNextSeq === 'number' ? metaNextSeq : 0, scan.lastSeq === null ? 0 : scan.lastSeq + 1)
  // Taken at start so a crash before the first append still moves the epoch on.
  await writeOps(db, [
    { type: 'put', sublevel: meta, key: META_EPOCH, value: encodeValue(epoch) },
    { type: 'put', sublevel: meta, key: META_NEXT_SEQ, value: encodeValue(nextSeq) },
    { type: 'put', sublevel: meta, key: META_CLEAN, value: encodeValue(false) },
  ], true)

  const report: SpoolCheckReport = {
    records: scan.records, gaps: scan.gaps, unreadable: scan.unreadableKeys.length, epoch, cleanShutdown, repaired,
    check: scan.check, checked: scan.checked, lost: 0, lostRanges: [], setAside: asideDir,
  }
  if (repaired) {
    const head = typeof metaHead === 'number' ? metaHead : (scan.firstSeq ?? nextSeq)
    const quarantined = seqSet(scan.unreadableKeys)
    const lost = lostRanges(head, nextSeq, scan, (seq) => quarantined.has(seq))
    report.lost = lost.reduce((n, r) => n + r.to - r.from + 1, 0)
    report.lostRanges = lost.slice(0, 100)
  }
  if (repaired || startedEmpty) {
    log.error({ ...report, lostRanges: report.lostRanges.slice(0, 20), problems, dir: opts.dir, code: ErrorCodes.SPOOL_DAMAGED },
      startedEmpty
        ? 'spool was damaged beyond repair: moved aside whole, started empty; its events could not be counted'
        : `spool was damaged and repaired: ${report.lost} event(s) lost; damaged files set aside in ${asideDir ?? '(could not set aside)'}`)
  }
  const reportLog = { ...report, gaps: scan.gaps.slice(0, 20), dir: opts.dir }
  if (scan.gaps.length > 0 || scan.unreadableKeys.length > 0 || repaired) {
    log.warn(reportLog, 'spool check found damage: gaps are sequence ranges missing between stored events ' +
      '(lost to store damage, or acknowledged out of order); unreadable records were moved to the quarantine sublevel')
  } else {
    log.info(reportLog, 'spool opened')
  }

  const dedupSize = opts.dedupWindow ?? 256
  const dedup = createDedupWindow(dedupSize)
  /** Stored dedup keys per device (dedup-store.ts), so the old ones are deleted. */
  const dedupKeys = createDedupKeyIndex(dedupSize)
  /** Dedup triples (messageId, digest, seq) of the appends waiting for the next group commit, per device. */
  let dedupQueued = new Map<string, number[]>()
  const idPrefix = eventId(opts.gatewayId, epoch, 0).slice(0, -1)
  /**
   * A device's stored dedup entries are loaded when it first publishes with a
   * packet id in this run, not at open: open time and memory then do not grow
   * with the number of devices (256 entries each) that ever published.
   */
  const dedupLoaded = new Set<string>()
  const dedupLoading = new Map<string, Promise<void>>()
  function loadDedup(clientId: string): Promise<void> {
    let p = dedupLoading.get(clientId)
    if (p) return p
    p = (async () => {
      const found: Array<{ messageId: number; entry: DedupEntry }> = []
      const keys: Array<{ key: string; count: number; seq: number }> = []
      for await (const [key, raw] of dedupDb.iterator(dedupPrefix(clientId))) {
        try {
          const entries = decodeDedupKey(clientId, key, raw)
          for (const e of entries) found.push({ messageId: e.messageId, entry: { digest: e.digest, seq: e.seq, id: e.id, confirmed: false } })
          keys.push({ key, count: entries.length, seq: entries[0]?.seq ?? -1 })
        } catch {
          log.warn({ key }, 'unreadable dedup entry skipped')
          keys.push({ key, count: 0, seq: -1 })
        }
      }
      // Oldest first, so the window evicts in the order the previous run stored them.
      found.sort((a, b) => a.entry.seq - b.entry.seq)
      keys.sort((a, b) => a.seq - b.seq)
      dedupKeys.loaded(clientId, keys)
      for (const f of found) {
        // Appends of this device wait for this load, so nothing of this run is in its window yet.
        dedup.set(clientId, f.messageId, f.entry)
      }
    })().catch((err: unknown) => {
      log.warn({ err, clientId }, 'could not load the dedup window of a device; its re-sends from before the restart may be stored twice')
    }).finally(() => {
      dedupLoaded.add(clientId)
      dedupLoading.delete(clientId)
    })
    dedupLoading.set(clientId, p)
    return p
  }

  let status: SpoolStatus = 'open'
  /** Every seq below this is acked, rejected or never stored. */
  let lowWater = scan.firstSeq ?? nextSeq
  /** Seqs at or above lowWater already removed (acks that came out of order). */
  const removedAbove = new Set<number>()
  /** Seqs whose reject is being written: gone from the store before reject marks them removed. */
  const rejecting = new Set<number>()
  /** Highest committed seq + 1: what the reader may see. */
  let committedNext = nextSeq
  let pending = scan.records
  let bytes = scan.bytes
  /** Appends submitted to the group commit and not yet settled: counted in the metadata their batch writes. */
  let queuedAppends = 0
  let queuedBytes = 0
  const sizes = createReadSizes(MAX_SIZES)
  // Sized by tail-sizing.ts unless a test fixes it: larger while the uplink reads.
  const tailFixed = opts.tailRecords !== undefined
  let tailSize: TailLimits = tailFixed ? { records: opts.tailRecords!, bytes: TAIL_IDLE.bytes } : TAIL_IDLE
  const tail = createTailCache(tailSize.records, tailSize.bytes)
  let lastReadAt = Number.NEGATIVE_INFINITY
  /** Checked on every read and once per commit. */
  function sizeTail(): void {
    if (tailFixed) return
    const want = tailLimits(now() - lastReadAt)
    if (want === tailSize) return
    tailSize = want
    tail.setLimits(want.records, want.bytes)
  }
  const isRemoved = (seq: number): boolean => seq < lowWater || removedAbove.has(seq)
  const counters = { appended: 0, acked: 0, rejected: 0, dropped: 0, expired: 0, refusedFull: 0 }
  const limits: RetentionLimits = { ...NO_LIMITS, ...opts.limits }
  let intake: 'ok' | FullReason = 'ok'
  /** Intake changes are logged at most once per INTAKE_LOG_MS: at the edge of a limit it flips with every ack. */
  let intakeLoggedAt = Number.NEGATIVE_INFINITY
  /** A repair of damage found while reading (repairLive); reads wait for it, appends are refused. */
  let maintenance: Promise<void> = Promise.resolve()
  let repairing = false
  let acksSinceCompact = 0
  /** One past the highest seq the uplink has read: what lies between it and committedNext is unread backlog. */
  let readUpTo = lowWater
  /** A backlog was seen since the last head compaction (compaction-policy.ts); one on disk at open counts. */
  const compactEvery = opts.compactEveryAcks ?? 50_000
  let backlogSeen = isBacklog(pending, compactEvery)
  const compactionAsk: HeadCompactionInput = { acksSinceCompact: 0, every: compactEvery, unread: 0, backlogSeen: false, deferredMs: 0 }
  /** When the head compaction came due by its count of acks (a backlog may still make it wait); null: not due. */
  let dueSince: number | null = null
  let compacting = false
  const listeners = new Set<() => void>()

  const commitTiming = createCommitTiming()
  /** The records of the appends queued for the next commit (put-slab.ts). */
  const puts = createPutSlab()
  const gc = createGroupCommit<CommitOp>({
    delayMs: opts.groupCommitMs ?? 0,
    maxBatch: opts.maxBatch ?? 1024,
    write: async (ops) => {
      try {
        dedupOps(ops)
        ops.push(...metaOps(queuedAppends, queuedBytes))
      } catch (err) {
        // The slab's records are this write's: they fail with it, never go with the next one.
        puts.take(() => undefined)
        throw err
      }
      const t0 = performance.now()
      await writeAppends(db, events.prefix, puts, ops, true)
      commitTiming.record(performance.now() - t0)
    },
  })

  /** The dedup entries of the appends in this batch: one key per device (dedup-store.ts). */
  function dedupOps(ops: CommitOp[]): void {
    if (dedupQueued.size === 0) return
    const queued = dedupQueued
    dedupQueued = new Map()
    for (const [clientId, triples] of queued) {
      const key = dedupBatchKey(clientId, triples[2]!)
      ops.push({ type: 'put', sublevel: dedupDb, key, value: encodeDedupBatch(idPrefix, triples) })
      for (const gone of dedupKeys.added(clientId, key, triples.length / 3)) ops.push({ type: 'del', sublevel: dedupDb, key: gone })
    }
  }

  /** Counters written with every batch, so open needs no scan to know them (docs/architecture.md). */
  function metaOps(extraRecords = 0, extraBytes = 0): BatchOp[] {
    return [
      { type: 'put', sublevel: meta, key: META_NEXT_SEQ, value: encodeValue(nextSeq) },
      { type: 'put', sublevel: meta, key: META_PENDING, value: encodeValue(pending + extraRecords) },
      { type: 'put', sublevel: meta, key: META_BYTES, value: encodeValue(bytes + extraBytes) },
      { type: 'put', sublevel: meta, key: META_HEAD, value: encodeValue(lowWater) },
    ]
  }

  // Deletes after an upstream ack are not synced: a lost delete costs one re-send.
  /** Seqs of removed records whose delete is not written yet: numbers, no op object per record. */
  let deletes: number[] = []
  let deleteTimer: NodeJS.Timeout | null = null
  let deleting: Promise<void> = Promise.resolve()
  /** Deletes a failed write refused: written again once the store is reopened. */
  let failedDeletes: number[] = []
  /** A delete write is chained behind the one in flight and will take every delete queued by then. */
  let flushQueued = false
  const flushDeletes = (): void => {
    if (deleteTimer) clearTimeout(deleteTimer)
    deleteTimer = null
    if (deletes.length === 0 || flushQueued) return
    flushQueued = true
    // The deletes are taken when the write before has finished: acks that come meanwhile join this
    // write instead of making one each.
    deleting = deleting.then(() => {
      flushQueued = false
      const seqs = deletes
      deletes = []
      if (seqs.length === 0) return
      if (!health.writable || repairing) {
        failedDeletes = failedDeletes.concat(seqs)
        return
      }
      const failed = (err: unknown): void => {
        health.writeFailed(err)
        failedDeletes = failedDeletes.concat(seqs)
        log.warn({ err, count: seqs.length }, 'deleting acknowledged records failed; retried when the store is writable again')
      }
      try {
        // The counters in the same write: after a crash they match the records.
        return writeDeletes(db, events.prefix, seqs, metaOps(), false).catch(failed)
      } catch (err) {
        // Refused before the write started (a store being closed, say): the same as a failed write.
        failed(err)
      }
    })
    checkWritable()
  }

  /** Failed deletes and the counters, written together (synced) once the store is writable again. */
  function retryDeletes(seqs: number[]): Promise<void> {
    return writeDeletes(db, events.prefix, seqs, metaOps(), true)
  }

  /**
   * Deletes are gathered for a few ms (or DELETE_BATCH of them): every LevelDB write costs a trip
   * to its thread pool, and a delete lost in a crash costs only one re-send.
   */
  function queueDelete(seq: number): void {
    deletes.push(seq)
    if (deletes.length >= DELETE_BATCH) flushDeletes()
    else deleteTimer ??= setTimeout(flushDeletes, DELETE_DELAY_MS)
  }

  const writableListeners = new Set<() => void>()
  function storeState(): StoreState {
    return { bytes: bytes + queuedBytes, freeBytes: guard.freeBytes, writable: health.writable && !repairing }
  }
  /** Tell held appends to try again once nothing refuses them. */
  function checkWritable(): void {
    const reason = admit(storeState(), limits, 0)
    if (reason === null && intake !== 'ok') {
      if (now() - intakeLoggedAt >= INTAKE_LOG_MS) {
        intakeLoggedAt = now()
        log.info({ was: intake, bytes, freeBytes: guard.freeBytes, refusedFull: counters.refusedFull }, 'spool takes new events again')
      }
      intake = 'ok'
    }
    if (reason !== null || writableListeners.size === 0) return
    for (const l of [...writableListeners]) {
      try {
        l()
      } catch (err) {
        log.error({ err }, 'spool writable listener failed')
      }
    }
  }

  const health = createStoreHealth({
    dir: opts.dir,
    log,
    minFreeBytes: limits.minFreeBytes,
    reopen: async () => {
      await gc.drain().catch(() => undefined)
      await deleting
      await db.close()
      await db.open()
      for (const sub of [events, meta, dedupDb, rejectedDb, quarantine]) await sub.open()
      const retry = failedDeletes
      failedDeletes = []
      try {
        await retryDeletes(retry)
      } catch (err) {
        failedDeletes = retry.concat(failedDeletes)
        throw err
      }
    },
    onRecovered: () => checkWritable(),
  })

  const guard = createDiskGuard({
    dir: opts.dir,
    intervalMs: opts.checkIntervalMs ?? 5000,
    ...(opts.statfs ? { statfs: opts.statfs } : {}),
    onSample: (free, err) => {
      if (err !== undefined) log.warn({ err }, 'could not read the free space of the spool\'s filesystem')
      void health.diskSample(free).then(() => {
        checkWritable()
        scheduleRetention()
        // Below the free-space floor, acknowledged records free disk space only once compacted:
        // do not wait for compactEveryAcks.
        if (intake === 'min-free') maybeCompact(true)
      })
    },
  })

  const retention = createRetentionRunner({
    log,
    limits,
    now,
    active: () => status === 'open' && health.writable && !repairing,
    state: storeState,
    head: (fromSeq, limit) => events.iterator({ gte: seqKey(Math.max(fromSeq, lowWater)), lt: seqKey(committedNext), limit }),
    removed: isRemoved,
    discard: (seq, size, kind) => {
      markRemoved(seq)
      sizes.take(seq)
      pending--
      bytes = Math.max(0, bytes - size)
      counters[kind]++
    },
    deleteKeys: (keys) => writeOps(db, [...keys.map((key): BatchOp => ({ type: 'del', sublevel: events, key })), ...metaOps()], false),
    compactHead: async () => {
      await deleting
      await db.compactRange(events.prefix + seqKey(0), events.prefix + seqKey(lowWater))
      void guard.check()
    },
    afterPass: () => checkWritable(),
  }, opts.checkIntervalMs ?? 5000)
  const scheduleRetention = (): void => retention.schedule()
  await guard.check()

  function fullError(reason: FullReason): OutpostError {
    if (reason === 'unavailable') {
      return new OutpostError(ErrorCodes.SPOOL_UNAVAILABLE, `spool cannot write: ${(health.lastError as Error | null)?.message ?? 'store unavailable'}`, { cause: health.lastError })
    }
    return new OutpostError(ErrorCodes.SPOOL_FULL, reason === 'max-bytes'
      ? `spool holds ${bytes} bytes, limit spool.maxBytes = ${limits.maxBytes}`
      : `${guard.freeBytes ?? 0} bytes free on the spool's disk, below spool.minFreeBytes = ${limits.minFreeBytes}`)
  }

  /** Size of a record leaving the log: known if it was read in this run, else the average. */
  function takeSize(seq: number): number {
    const cached = tail.size(seq)
    if (cached !== undefined) return cached
    const known = sizes.take(seq)
    if (known !== undefined) return known
    return pending > 0 ? Math.round(bytes / pending) : 0
  }

  function markRemoved(seq: number): void {
    if (seq < lowWater) return
    if (seq === lowWater) {
      lowWater++
      while (removedAbove.delete(lowWater)) lowWater++
      tail.dropBelow(lowWater)
    } else {
      removedAbove.add(seq)
    }
  }

  /**
   * Listeners hear of a commit once, after every append it carried is in the
   * tail: the appends' callbacks run one after another in the same microtask
   * run, and the first one queues this after the rest.
   */
  let notifyQueued = false
  function notifySoon(): void {
    if (notifyQueued) return
    notifyQueued = true
    queueMicrotask(notify)
  }

  function notify(): void {
    notifyQueued = false
    sizeTail()
    for (const l of listeners) {
      try {
        l()
      } catch (err) {
        log.error({ err }, 'spool listener failed')
      }
    }
  }

  /** Head position of the last compaction: acked records below it no longer take disk space. */
  let compactedUpTo = 0
  function maybeCompact(force = false): void {
    const unread = Math.max(0, committedNext - readUpTo)
    if (isBacklog(unread, compactEvery)) backlogSeen = true
    if (compacting || !health.writable || repairing) return
    if (!force) {
      // Asked on every ack: one input object, refilled, instead of one per ask.
      compactionAsk.acksSinceCompact = acksSinceCompact
      compactionAsk.unread = unread
      compactionAsk.backlogSeen = backlogSeen
      if (acksSinceCompact >= compactEvery && backlogSeen) dueSince ??= now()
      compactionAsk.deferredMs = dueSince === null ? 0 : now() - dueSince
      if (!headCompactionDue(compactionAsk)) return
    }
    if (force && lowWater <= compactedUpTo) return
    acksSinceCompact = 0
    backlogSeen = false
    dueSince = null
    compacting = true
    const end = lowWater
    const started = now()
    deleting
      .then(() => db.compactRange(events.prefix + seqKey(0), events.prefix + seqKey(end)))
      .then(() => {
        compactedUpTo = end
        log.debug({ upTo: end, ms: now() - started }, 'spool compacted')
        if (force) void guard.check()
      })
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

  /**
   * readRange, again while a read came back empty only because every record
   * it met was quarantined: an empty answer must mean nothing committed is
   * left after the cursor (the uplink then waits for the next append).
   */
  async function readCommitted(afterSeq: number, limit: number, raw: boolean): Promise<StoredEvent[]> {
    for (;;) {
      const quarantined = { count: 0 }
      const out = await readRange(afterSeq, limit, quarantined, raw)
      if (out.length > 0 || quarantined.count === 0) {
        // Empty: nothing committed is left after the cursor.
        const upTo = out.length > 0 ? out[out.length - 1]!.seq + 1 : committedNext
        if (upTo > readUpTo) readUpTo = upTo
        return out
      }
    }
  }

  async function readRange(afterSeq: number, limit: number, quarantined: { count: number }, rawRecords: boolean): Promise<StoredEvent[]> {
    await health.settled()
    await maintenance
    if (db.status !== 'open') throw new OutpostError(ErrorCodes.SPOOL_UNAVAILABLE, 'spool is being reopened')
    const fromHead = afterSeq < 0
    const start = fromHead ? lowWater : Math.max(afterSeq + 1, lowWater)
    // The end as the iterator sees it: records committed while it runs are not in its snapshot.
    const end = committedNext
    // Caught up (the uplink's usual "anything new?"): no iterator for an empty range.
    if (start >= end || limit <= 0) return []
    const cached = tail.read(start, end, limit, isRemoved)
    if (cached !== null) return cached
    let found = await readBulk(start, end, limit)
    if (found.suspect) {
      // A sequence number missing that nothing removed: a damaged block LevelDB stepped over, or a
      // gap from before this run. The per-record read, to its natural end, reports the damage.
      found = await readCareful(start, found.upTo, limit)
    }
    const out: StoredEvent[] = []
    const noteSize = sizes.begin(start)
    const { keys, seqs, values } = found
    const prefixLength = events.prefix.length
    for (let i = 0; i < keys.length; i++) {
      const raw = values[i]!
      const seq = seqs[i]!
      try {
        out.push((rawRecords ? readRaw(seq, raw) : undefined) ?? decodeRecord(seq, raw))
        noteSize(seq, keys[i]!.length - prefixLength + raw.length)
      } catch (err) {
        if (!(err instanceof RecordDecodeError)) throw err
        const key = keys[i]!.slice(prefixLength)
        await quarantineRecord(key, raw, err)
        quarantined.count++
        markRemoved(seq)
        pending--
        bytes = Math.max(0, bytes - key.length - raw.length)
      }
    }
    // Everything below the first record found (decoded or quarantined) is gone: skip it next time.
    // Found nothing: the read went to `end` (no limit or byte cap stops an empty read).
    if (fromHead) {
      const first = keys.length > 0 ? seqs[0]! : end
      while (lowWater < first) {
        removedAbove.delete(lowWater)
        lowWater++
      }
    }
    return out
  }

  /** Not in the store for a known reason: removed, or its reject being written. */
  const accountedFor = (seq: number): boolean => isRemoved(seq) || rejecting.has(seq)

  /** Some seq in [from, to) is not accounted for: it should be in the store. */
  function unexplained(from: number, to: number): boolean {
    for (let seq = Math.max(from, lowWater); seq < to; seq++) if (!accountedFor(seq)) return true
    return false
  }

  /**
   * Records in [start, end) from the store, in chunks (nextv): at most `limit`, and values up to
   * READ_MAX_BYTES (the record that crosses it is the last). LevelDB steps over a damaged block
   * and reports it only when an iterator reaches its end, which a chunked read that stops at its
   * limit never does: every seq the read passes over is checked instead. One that nothing removed
   * makes the read `suspect`; `upTo` is where the read stopped (exclusive).
   */
  async function readBulk(start: number, end: number, limit: number): Promise<RecordsRead> {
    const keys: string[] = []
    const seqs: number[] = []
    const values: Uint8Array[] = []
    const prefix = events.prefix
    // On the root store with the sublevel's prefix: the sublevel's own iterator re-slices every key.
    const it = db.iterator({ gte: prefix + seqKey(start), lt: prefix + seqKey(end), limit, highWaterMarkBytes: READ_CHUNK_BYTES })
    let expect = start
    let suspect = false
    let capped = false
    let readBytes = 0
    try {
      while (keys.length < limit && !capped) {
        const chunk = await it.nextv(Math.min(READ_CHUNK, limit - keys.length))
        if (chunk.length === 0) break
        for (let i = 0; i < chunk.length; i++) {
          const [key, raw] = chunk[i]!
          const seq = seqKeyAt(key, prefix.length)
          // Not a seq key, or out of order: not what an intact store gives; the careful read decides.
          if (!(seq >= expect)) suspect = true
          else if (seq > expect && unexplained(expect, seq)) suspect = true
          if (seq >= expect) expect = seq + 1
          keys.push(key)
          seqs.push(seq)
          values.push(raw)
          readBytes += raw.length
          // A short read is fine (the reader asks again): large payloads must not make one read hold gigabytes.
          if (readBytes >= READ_MAX_BYTES) {
            capped = true
            break
          }
        }
      }
    } finally {
      await it.close()
    }
    const full = capped || keys.length >= limit
    // Stopped before `end` with room left: everything up to `end` must be accounted for too.
    if (!full && unexplained(expect, end)) suspect = true
    return { keys, seqs, values, suspect, upTo: full ? expect : end }
  }

  /**
   * The careful read of [start, upTo): an async step per record to the iterator's natural end
   * (no limit, no byte cap), where LevelDB reports a block it stepped over (LEVEL_CORRUPTION,
   * which readAfter answers with repairLive). If it reads to the end without an error, every seq
   * it did not find is a legitimate gap (acks out of order before a restart, losses already
   * counted): marked removed so later reads do not come here for it. Pending and bytes count only
   * stored records, so they do not change. Then the read's own limits apply to what was found.
   */
  async function readCareful(start: number, upTo: number, limit: number): Promise<RecordsRead> {
    const keys: string[] = []
    const values: Uint8Array[] = []
    const prefix = events.prefix
    const seqs: number[] = []
    for await (const [key, raw] of db.iterator({ gte: prefix + seqKey(start), lt: prefix + seqKey(upTo) })) {
      keys.push(key)
      values.push(raw)
      seqs.push(seqKeyAt(key, prefix.length))
    }
    // Read to the end without an error: the store holds no other record in [start, upTo).
    let readBytes = 0
    let n = 0
    while (n < keys.length && n < limit && readBytes < READ_MAX_BYTES) readBytes += values[n++]!.length
    const verifiedTo = n < keys.length ? seqs[n]! : upTo
    let expect = start
    const gaps: number[] = []
    for (let i = 0; i <= n; i++) {
      const next = i < n ? seqs[i]! : verifiedTo
      if (!(next >= expect)) continue
      for (let seq = Math.max(expect, lowWater); seq < next; seq++) if (!accountedFor(seq)) gaps.push(seq)
      expect = next + 1
    }
    if (gaps.length > 0) {
      log.info({ count: gaps.length, first: gaps[0], last: gaps.at(-1) },
        'spool read: sequence numbers missing from the store without damage (acknowledged out of order before a restart, or lost earlier); skipped from now on')
      for (const seq of gaps) markRemoved(seq)
    }
    return { keys: keys.slice(0, n), seqs: seqs.slice(0, n), values: values.slice(0, n), suspect: false, upTo: verifiedTo }
  }

  /**
   * LevelDB found damage while reading (a garbled block: bytes overwritten
   * inside a table, which no check at open can see without reading
   * everything). Set the files aside, repair, count what is gone, go on.
   */
  function repairLive(cause: unknown): Promise<void> {
    if (repairing) return maintenance
    repairing = true
    maintenance = (async () => {
      log.error({ err: cause, dir: opts.dir, code: ErrorCodes.SPOOL_DAMAGED }, 'spool damage found while reading; setting the files aside and repairing it')
      const res = await repairWhileOpen({
        dir: opts.dir, log, db, events, quarantine,
        sublevels: [events, meta, dedupDb, rejectedDb, quarantine],
        quiesce: async () => {
          await gc.drain().catch(() => undefined)
          await deleting
        },
        head: lowWater,
        end: committedNext,
        acked: (seq) => removedAbove.has(seq),
      })
      for (const r of res.lost) for (let seq = r.from; seq <= r.to; seq++) markRemoved(seq)
      tail.clear()
      pending = res.scan.records
      bytes = res.scan.bytes
      sizes.clear()
      report.repaired = true
      report.lost += res.lostCount
      report.lostRanges = report.lostRanges.concat(res.lost).slice(0, 100)
      report.unreadable += res.scan.unreadableKeys.length
      report.setAside = res.setAside
      const retry = failedDeletes
      failedDeletes = []
      await retryDeletes(retry)
      log.error({ lost: res.lostCount, lostRanges: res.lost.slice(0, 20), unreadable: res.scan.unreadableKeys.length, setAside: res.setAside, code: ErrorCodes.SPOOL_DAMAGED },
        `spool repaired while running: ${res.lostCount} event(s) lost; damaged files set aside in ${res.setAside ?? '(could not set aside)'}`)
    })().finally(() => {
      repairing = false
      checkWritable()
    })
    return maintenance
  }

  /**
   * The append itself; `append` and `appendThen` are its two faces. `done`
   * is always called later, never from inside this call.
   */
  function appendThen(input: EventInput, hint: DedupHint | undefined, done: AppendCallback): void {
    if (status !== 'open') {
      refuseLater(done, new OutpostError(ErrorCodes.SPOOL_CLOSED, 'spool is closed'))
      return
    }
    if (hint && !dedupLoaded.has(input.clientId)) {
      // Appends of this device wait, in call order, for its window: its order is kept.
      loadDedup(input.clientId).then(() => appendThen(input, hint, done), (err: unknown) => done(asError(err), -1, '', false))
      return
    }
    let digest: number | undefined
    let entry: DedupEntry | undefined
    if (hint) {
      digest = eventDigest(input)
      const prior = dedup.get(input.clientId, hint.messageId)
      // A retransmission is DUP=1 [MQTT-3.3.1-1], or the same packet id and
      // content re-sent before the device can have had a PUBACK for it: the
      // original is still being written, or was stored by a run that died
      // before acknowledging (MQTT.js, for one, re-sends with DUP=0).
      if (prior && prior.digest === digest && (hint.retransmit || !prior.confirmed)) {
        gc.drain().then(() => {
          prior.confirmed = true
          done(null, prior.seq, prior.id, true)
        }, (err: unknown) => done(asError(err), -1, '', false))
        return
      }
    }
    const seq = nextSeq
    const id = eventId(opts.gatewayId, epoch, seq)
    // Built field by field, in decodeRecord's order: a spread of the input cost more than the
    // rest of the append together (profiled), and one shape keeps the uplink's reads monomorphic.
    const record: StoredEvent = {
      seq, id, clientId: input.clientId, topic: input.topic, payload: input.payload, qos: input.qos, retain: input.retain, acceptedAt: now(),
    }
    if (input.meta !== undefined) record.meta = input.meta
    if (input.upstreamTopic !== undefined) record.upstreamTopic = input.upstreamTopic
    // Encoded into the put slab now, taken back if refused: the size decides.
    const size = KEY_BYTES + puts.add(record)
    // Sticky until checkWritable clears it: once one append was refused, later
    // (perhaps smaller) ones are too, so a device's events never overtake each other.
    const refused = admit(storeState(), limits, size) ?? (intake === 'ok' ? null : intake)
    if (refused !== null) {
      counters.refusedFull++
      if (intake !== refused) {
        intake = refused
        if (now() - intakeLoggedAt >= INTAKE_LOG_MS) {
          intakeLoggedAt = now()
          log.warn({ reason: refused, bytes, maxBytes: limits.maxBytes, freeBytes: guard.freeBytes, minFreeBytes: limits.minFreeBytes },
            'spool is not taking new events: devices are not acknowledged until there is room')
        }
      }
      puts.dropLast()
      refuseLater(done, fullError(refused))
      return
    }
    nextSeq++
    queuedAppends++
    queuedBytes += size
    if (hint && digest !== undefined) {
      entry = { digest, seq, id, confirmed: false }
      dedup.set(input.clientId, hint.messageId, entry)
      const triples = dedupQueued.get(input.clientId)
      if (triples === undefined) dedupQueued.set(input.clientId, [hint.messageId, digest, seq])
      else triples.push(hint.messageId, digest, seq)
    }
    gc.addThen(seq, (err: unknown) => {
      if (err === null) {
        queuedAppends--
        queuedBytes -= size
        if (entry) entry.confirmed = true
        counters.appended++
        pending++
        bytes += size
        if (limits.onFull === 'drop-oldest' && trimTarget(storeState(), limits) !== null) scheduleRetention()
        if (seq + 1 > committedNext) committedNext = seq + 1
        tail.push(record, size)
        notifySoon()
        done(null, seq, id, false)
        return
      }
      queuedAppends--
      queuedBytes -= size
      markRemoved(seq)
      if (hint) dedup.forget(input.clientId, hint.messageId, seq)
      health.writeFailed(err)
      intake = 'unavailable'
      done(new OutpostError(ErrorCodes.SPOOL_UNAVAILABLE, `could not store event from ${input.clientId} on ${input.topic}: ${(err as Error).message}`, { cause: err }), -1, '', false)
    })
  }

  const spool: Spool = {
    get report() { return report },
    get epoch() { return epoch },
    get status() { return status },

    append(input: EventInput, hint?: DedupHint): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        appendThen(input, hint, (err, seq, id, duplicate) => {
          if (err === null) resolve({ seq, id, duplicate })
          else reject(err)
        })
      })
    },

    appendThen,

    async readAfter(afterSeq: number, limit: number, readOpts?: ReadOptions): Promise<StoredEvent[]> {
      assertOpen()
      lastReadAt = now()
      sizeTail()
      const raw = readOpts?.raw === true
      try {
        return await readCommitted(afterSeq, limit, raw)
      } catch (err) {
        if (causeCode(err) !== 'LEVEL_CORRUPTION' || status !== 'open') throw err
        await repairLive(err)
        return await readCommitted(afterSeq, limit, raw)
      }
    },

    ack(seq: number): void {
      if (status === 'closed') return
      if (isRemoved(seq)) return
      bytes = Math.max(0, bytes - takeSize(seq))
      markRemoved(seq)
      pending--
      counters.acked++
      acksSinceCompact++
      queueDelete(seq)
      maybeCompact()
    },

    ackMany(records: ReadonlyArray<{ readonly seq: number }>): void {
      if (status === 'closed') return
      let n = 0
      for (let i = 0; i < records.length; i++) {
        const seq = records[i]!.seq
        if (isRemoved(seq)) continue
        // One at a time, as ack(): takeSize's average for a record never read depends on pending.
        bytes = Math.max(0, bytes - takeSize(seq))
        markRemoved(seq)
        pending--
        deletes.push(seq)
        n++
      }
      if (n === 0) return
      counters.acked += n
      acksSinceCompact += n
      if (deletes.length >= DELETE_BATCH) flushDeletes()
      else deleteTimer ??= setTimeout(flushDeletes, DELETE_DELAY_MS)
      maybeCompact()
    },

    async noteAttempt(seq: number): Promise<void> {
      assertOpen()
      const key = seqKey(seq)
      const raw = await events.get(key)
      // Acked (or rejected) while it was read: its delete may be written already, and a put now
      // would bring the record back after a restart, to be sent again.
      if (raw === undefined || isRemoved(seq)) return
      const event = decodeRecord(seq, raw)
      event.attempts = (event.attempts ?? 0) + 1
      await gc.submit([{ type: 'put', sublevel: events, key, value: encodeRecord(event) }])
      // Acked while the put waited for its commit: that ack's delete may have gone first. Again.
      if (isRemoved(seq)) queueDelete(seq)
      else tail.replace(event)
    },

    async reject(event: StoredEvent, reason: string, reasonCode?: number): Promise<void> {
      assertOpen()
      const key = seqKey(event.seq)
      const entry: RejectedEvent = { event: plainEvent(event), reason, rejectedAt: now() }
      if (reasonCode !== undefined) entry.reasonCode = reasonCode
      // A read between the write and the accounting below must not take the seq for a gap (readBulk).
      rejecting.add(event.seq)
      try {
        await gc.submit([
          { type: 'put', sublevel: rejectedDb, key, value: encodeValue(entry) },
          { type: 'del', sublevel: events, key },
        ])
      } finally {
        rejecting.delete(event.seq)
      }
      if (!isRemoved(event.seq)) {
        bytes = Math.max(0, bytes - takeSize(event.seq))
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

    writable(): boolean {
      return status === 'open' && intake === 'ok' && admit(storeState(), limits, 0) === null
    },

    onWritable(listener: () => void): () => void {
      writableListeners.add(listener)
      return () => { writableListeners.delete(listener) }
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
        bytes,
        intake: health.writable ? intake : 'unavailable',
        freeBytes: guard.freeBytes,
        tailRecords: tail.length,
      }
    },

    takeCommitTimes(): CommitTimes {
      return commitTiming.take()
    },

    async close(): Promise<void> {
      if (status !== 'open') return
      status = 'closing'
      listeners.clear()
      writableListeners.clear()
      guard.stop()
      retention.stop()
      await health.settled()
      await gc.drain().catch(() => undefined)
      flushDeletes()
      await deleting
      if (db.status === 'open' && health.writable) {
        await writeOps(db, [...metaOps(), { type: 'put', sublevel: meta, key: META_CLEAN, value: encodeValue(true) }], true)
        // LevelDB flushes its memtable before any compaction: compacting a range past every key
        // writes the write-ahead log out as one table and merges nothing else, so the next open
        // has no log to replay into memory.
        await db.compactRange('\uffff', '\uffff\uffff').catch((err: unknown) => log.warn({ err }, 'could not flush the spool\'s log at close'))
      } else {
        log.warn({ failedDeletes: failedDeletes.length }, 'spool closed without a clean-shutdown mark (it could not write): the next open checks it')
      }
      const wasClean = db.status === 'open' && health.writable
      if (db.status === 'open') await db.close()
      if (wasClean) await recordFiles(opts.dir).catch((err: unknown) => log.warn({ err }, 'could not record the spool\'s file list'))
      status = 'closed'
    },
  }
  return spool
}
