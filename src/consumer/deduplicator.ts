import { DedupFilter, type DedupLimits } from './dedup-filter.js'
import { openStateFile, type StateFile, type StateRecovery } from './state-file.js'

/**
 * Deduplication by event id for a cloud-side consumer: the in-memory filter
 * plus, optionally, its state file. Guarantees and limits: docs/consumer.md.
 */

export interface DeduplicatorOptions extends Partial<DedupLimits> {
  /** Keep the seen ids in this file, so a restarted consumer (even after kill -9) remembers them. */
  stateFile?: string
  /** fdatasync each append to the state file (default true). */
  fsync?: boolean
  /**
   * What to do with an id older than its stream's window, which the filter
   * cannot judge: `emit` (default: nothing is lost, a very late duplicate can
   * pass) or `drop` (nothing passes twice, a very late first delivery is lost).
   */
  outOfWindow?: 'emit' | 'drop'
  /**
   * Told about problems that cost nothing yet: a failed rewrite (compaction)
   * of the state file, which keeps growing until a later rewrite works.
   */
  onWarning?: (message: string, err: unknown) => void
}

export interface DedupStats {
  /** Events that carried an id. */
  seen: number
  /** Events returned by accept(), with or without an id. */
  emitted: number
  /** Events dropped because their id was seen before. */
  duplicates: number
  /** Events without an id, passed through (cannot be deduplicated). */
  withoutId: number
  /** Events whose id was older than the window (emitted or dropped per `outOfWindow`). */
  outOfWindow: number
  /** Streams (gateway id + epoch) and non-canonical ids currently remembered. */
  streams: number
  otherIds: number
  /** Streams and ids forgotten to stay within the limits. */
  evictedStreams: number
  evictedOtherIds: number
}

export interface Deduplicator {
  /**
   * The events to process: those whose id was never accepted before, in
   * order, plus every event without an id. Their ids are marked as seen, and
   * with a state file written (so they survive the death of the process) and
   * fdatasync'd (so they survive a power cut), before this returns: once an id
   * was returned it is never returned again (within the limits). Throws
   * OutpostError OUTPOST_CONSUMER_STATE when the state file cannot be written;
   * then nothing was marked and the same call can be retried.
   *
   * `{ sync: false }` leaves out the fdatasync, for a caller that handles the
   * events right away and calls sync() before acknowledging the message (what
   * `outpost consume` does: it keeps the time between the state write and the
   * effect to two system calls). Until sync() returns, a power cut can forget
   * these ids; the death of the process cannot.
   */
  accept<T extends { id?: string | undefined }>(events: readonly T[], opts?: { sync?: boolean }): T[]
  /** fdatasync ids accepted with `{ sync: false }`. Throws OUTPOST_CONSUMER_STATE. No-op without a state file. */
  sync(): void
  /** Whether an id would be accepted now (no change). */
  isNew(id: string): boolean
  stats(): DedupStats
  /** What opening the state file found (undefined without a state file). */
  readonly recovery: StateReport | undefined
  /** Close the state file and release its lock. */
  close(): void
}

/** What opening a state file found. */
export type StateReport = Omit<StateRecovery, 'ids'>

/** Rewrite the state file when it has this many lines more than it would after a rewrite. */
const COMPACT_SLACK = 10_000

/**
 * Open a deduplicator: in memory only, or with `stateFile` loaded (and locked)
 * first. Throws OutpostError OUTPOST_CONSUMER_STATE when the state file cannot
 * be read, locked or created, and RangeError for limits out of range.
 */
export function openDeduplicator(opts: DeduplicatorOptions = {}): Deduplicator {
  const filter = new DedupFilter({
    ...(opts.window !== undefined && { window: opts.window }),
    ...(opts.maxStreams !== undefined && { maxStreams: opts.maxStreams }),
    ...(opts.maxOtherIds !== undefined && { maxOtherIds: opts.maxOtherIds }),
  })
  const dropOld = opts.outOfWindow === 'drop'
  let state: StateFile | undefined
  let recovery: StateReport | undefined
  /** Lines the file had right after its last rewrite. */
  let baseLines = 0
  if (opts.stateFile !== undefined) {
    const opened = openStateFile(opts.stateFile, { fsync: opts.fsync !== false })
    state = opened.state
    const { ids, ...report } = opened.recovery
    for (const id of ids) filter.mark(id)
    baseLines = ids.length
    recovery = report
    // A damaged file is rewritten from what was kept, so the damage is reported once.
    if (report.badLines > 0) baseLines = state.rewrite(filter.remembered())
  }
  const counts = { seen: 0, emitted: 0, duplicates: 0, withoutId: 0, outOfWindow: 0 }

  return {
    recovery,
    accept(events, acceptOpts) {
      const out: typeof events[number][] = []
      const fresh: string[] = []
      const inCall = new Set<string>()
      let seen = 0; let duplicates = 0; let withoutId = 0; let old = 0
      for (const event of events) {
        const id = event.id
        if (id === undefined) {
          withoutId++
          out.push(event)
          continue
        }
        seen++
        const verdict = inCall.has(id) ? 'duplicate' : filter.peek(id)
        if (verdict === 'duplicate') { duplicates++; continue }
        if (verdict === 'out-of-window') {
          old++
          if (dropOld) continue
        }
        inCall.add(id)
        if (verdict === 'new') fresh.push(id)
        out.push(event)
      }
      // Disk first, memory second: if the write throws, nothing changed.
      state?.append(fresh, { sync: acceptOpts?.sync !== false })
      for (const id of fresh) filter.mark(id)
      counts.seen += seen
      counts.duplicates += duplicates
      counts.withoutId += withoutId
      counts.outOfWindow += old
      counts.emitted += out.length
      if (state !== undefined && state.appendedLines > baseLines + COMPACT_SLACK) {
        // The ids are on disk already: a failed rewrite must not fail this call.
        try {
          baseLines = state.rewrite(filter.remembered())
        } catch (err) {
          baseLines += COMPACT_SLACK // try again later
          opts.onWarning?.((err as Error).message, err)
        }
      }
      return out
    },
    sync() {
      state?.sync()
    },
    isNew(id) {
      return filter.peek(id) !== 'duplicate'
    },
    stats() {
      const size = filter.size
      return { ...counts, streams: size.streams, otherIds: size.otherIds, evictedStreams: size.evictedStreams, evictedOtherIds: size.evictedOtherIds }
    },
    close() {
      state?.close()
    },
  }
}
