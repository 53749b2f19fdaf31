import { parseEventId } from './event-id.js'
import { SeqWindow, type SeqVerdict } from './seq-window.js'

/**
 * The in-memory half of deduplication: which event ids were seen, in bounded
 * memory. Pure (no I/O, no clock). Guarantees and limits: docs/consumer.md.
 *
 * - Canonical ids `<gatewayId>-<epoch>-<seq>`: one SeqWindow per
 *   `<gatewayId>-<epoch>` stream, at most `maxStreams` of them (the stream
 *   seen least recently is forgotten first).
 * - Any other id: an exact set of at most `maxOtherIds` ids, least recently
 *   seen forgotten first.
 */
export interface DedupLimits {
  /** Sequence numbers remembered per stream (a multiple of 8). Default 65536. */
  window: number
  /** Streams (gateway id + epoch) remembered. Default 1024. */
  maxStreams: number
  /** Ids that are not canonical event ids, remembered exactly. Default 100000. */
  maxOtherIds: number
}

/** The limits used for any option left out: 8 KiB per stream, at most 8 MiB of windows. */
export const DEFAULT_LIMITS: Readonly<DedupLimits> = Object.freeze({ window: 65536, maxStreams: 1024, maxOtherIds: 100_000 })

export type IdVerdict = SeqVerdict

export class DedupFilter {
  readonly limits: Readonly<DedupLimits>
  /** Insertion order = least recently used first. */
  private readonly streams = new Map<string, SeqWindow>()
  private readonly others = new Map<string, true>()
  /** The stream marked last: marking it again needs no LRU move. */
  private lastStream: string | undefined
  private evictedStreams = 0
  private evictedIds = 0

  constructor(limits: Partial<DedupLimits> = {}) {
    const l = { ...DEFAULT_LIMITS, ...limits }
    if (!Number.isSafeInteger(l.maxStreams) || l.maxStreams < 1) throw new RangeError(`maxStreams must be at least 1, got ${l.maxStreams}`)
    if (!Number.isSafeInteger(l.maxOtherIds) || l.maxOtherIds < 1) throw new RangeError(`maxOtherIds must be at least 1, got ${l.maxOtherIds}`)
    new SeqWindow(l.window) // validates the size
    this.limits = Object.freeze(l)
  }

  /** What mark(id) would answer, without changing anything. */
  peek(id: string): IdVerdict {
    const parsed = parseEventId(id)
    if (parsed === undefined) return this.others.has(id) ? 'duplicate' : 'new'
    return this.streams.get(parsed.stream)?.peek(parsed.seq) ?? 'new'
  }

  /** Record id as seen; returns what it was before. */
  mark(id: string): IdVerdict {
    const parsed = parseEventId(id)
    if (parsed === undefined) return this.markOther(id)
    let window = this.streams.get(parsed.stream)
    if (window === undefined) {
      window = new SeqWindow(this.limits.window)
      this.streams.set(parsed.stream, window)
      if (this.streams.size > this.limits.maxStreams) {
        this.streams.delete(this.streams.keys().next().value as string)
        this.evictedStreams++
      }
    } else if (parsed.stream !== this.lastStream) {
      touch(this.streams, parsed.stream, window)
    }
    this.lastStream = parsed.stream
    return window.mark(parsed.seq)
  }

  /**
   * Every id still remembered, in an order that rebuilds the same state when
   * marked into an empty filter with the same limits (used for compaction).
   */
  *remembered(): Generator<string> {
    yield* this.others.keys()
    for (const [stream, window] of this.streams) {
      for (const seq of window.marked()) yield `${stream}-${seq}`
    }
  }

  /** How much is remembered, and how much was forgotten to stay in bounds. */
  get size(): { streams: number; otherIds: number; evictedStreams: number; evictedOtherIds: number } {
    return { streams: this.streams.size, otherIds: this.others.size, evictedStreams: this.evictedStreams, evictedOtherIds: this.evictedIds }
  }

  private markOther(id: string): IdVerdict {
    if (this.others.has(id)) {
      touch(this.others, id, true)
      return 'duplicate'
    }
    this.others.set(id, true)
    if (this.others.size > this.limits.maxOtherIds) {
      this.others.delete(this.others.keys().next().value as string)
      this.evictedIds++
    }
    return 'new'
  }
}

/** Move key to the most recently used end (a Map keeps insertion order). */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
}
