import type { StoredEvent } from './types.js'

/**
 * The newest committed records, kept in memory in sequence order so the
 * uplink, which in steady state reads just behind the head of the log, gets
 * them without a LevelDB iterator and a CBOR decode per record. It holds the
 * very objects the appends built (never mutated afterwards), plus each
 * record's logical size for the byte accounting on ack.
 *
 * A contiguous run of sequence numbers [first, end): a commit that does not
 * continue the run (a write failed in between) starts a new run. Bounded by
 * `max` records and by `maxBytes` of record sizes (large payloads), the
 * oldest going first. Pure: no I/O, tested on its own.
 */
export interface TailCache {
  /** A record was committed. */
  push(event: StoredEvent, size: number): void
  /**
   * Records with seq in [from, end), at most `limit`, skipping those `removed`
   * says are gone; null when `from` is not inside the cached run (read the
   * store instead).
   */
  read(from: number, end: number, limit: number, removed: (seq: number) => boolean): StoredEvent[] | null
  /** The logical size of a cached record, or undefined. */
  size(seq: number): number | undefined
  /** Replace a cached record (its attempts changed); ignored when not cached. */
  replace(event: StoredEvent): void
  /** Drop records below `seq` (acknowledged or discarded: nobody reads them again). */
  dropBelow(seq: number): void
  /** New bounds; the oldest records over them go at once. */
  setLimits(max: number, maxBytes: number): void
  clear(): void
  readonly first: number
  readonly length: number
  readonly bytes: number
}

export function createTailCache(maxRecords: number, maxRecordBytes = Number.POSITIVE_INFINITY): TailCache {
  let max = maxRecords
  let maxBytes = maxRecordBytes
  /** Slots below `start` are emptied as records leave, so the collector can take them at once. */
  let events: Array<StoredEvent | undefined> = []
  let sizes: number[] = []
  /** Index in the arrays of the oldest live entry; the arrays are compacted when it passes half. */
  let start = 0
  /** Seq of events[start]. */
  let first = 0
  /** Sum of the live entries' sizes. */
  let bytes = 0

  const length = (): number => events.length - start
  function compact(): void {
    if (start === 0) return
    events = events.slice(start)
    sizes = sizes.slice(start)
    start = 0
  }
  function advance(n: number): void {
    for (let i = start; i < start + n; i++) {
      bytes -= sizes[i]!
      // An acknowledged record would otherwise stay reachable until the next
      // compaction, up to as many again as the live ones: kept alive through
      // every young-generation collection, promoted, then marked again and
      // again in the old generation.
      events[i] = undefined
    }
    start += n
    first += n
    if (start >= events.length) {
      events = []
      sizes = []
      start = 0
      bytes = 0
    } else if (start > 1024 && start * 2 > events.length) {
      compact()
    }
  }

  function clear(): void {
    events = []
    sizes = []
    start = 0
    bytes = 0
  }

  /** Oldest first, down to `max` records and `maxBytes` (the newest record stays, whatever its size). */
  function trim(): void {
    if (length() > max) advance(length() - max)
    let drop = 0
    let over = bytes - maxBytes
    while (over > 0 && drop < length() - 1) over -= sizes[start + drop++]!
    if (drop > 0) advance(drop)
  }

  return {
    push(event, size) {
      if (max <= 0) return
      if (length() === 0 || event.seq !== first + length()) {
        events = [event]
        sizes = [size]
        start = 0
        first = event.seq
        bytes = size
        return
      }
      events.push(event)
      sizes.push(size)
      bytes += size
      trim()
    },
    read(from, end, limit, removed) {
      const n = length()
      if (n === 0 || from < first || from >= first + n) return null
      const out: StoredEvent[] = []
      const stop = Math.min(end, first + n)
      for (let seq = from; seq < stop && out.length < limit; seq++) {
        if (removed(seq)) continue
        out.push(events[start + seq - first]!)
      }
      return out
    },
    size(seq) {
      const i = seq - first
      return i >= 0 && i < length() ? sizes[start + i] : undefined
    },
    replace(event) {
      const i = event.seq - first
      if (i >= 0 && i < length()) events[start + i] = event
    },
    setLimits(records, recordBytes) {
      max = records
      maxBytes = recordBytes
      if (max <= 0) clear()
      else trim()
    },
    dropBelow(seq) {
      const n = Math.min(seq - first, length())
      if (n > 0) advance(n)
    },
    clear,
    get first() { return first },
    get length() { return length() },
    get bytes() { return bytes },
  }
}
