/**
 * Retention rules, pure: whether an append may go in, how much to trim, and
 * discarded events collected into id ranges for the log. No I/O, no timers.
 * docs/architecture.md "Retention and backpressure" describes the behaviour.
 */

export type OnFull = 'reject' | 'drop-oldest'

export interface RetentionLimits {
  /** Logical bytes of pending records (keys + values); 0 = no limit. */
  maxBytes: number
  /** Events older than this are expired, whatever `onFull` says; 0 = never. */
  maxAgeMs: number
  /** Free bytes the data directory's filesystem must keep; 0 = no check. */
  minFreeBytes: number
  onFull: OnFull
}

export const NO_LIMITS: RetentionLimits = { maxBytes: 0, maxAgeMs: 0, minFreeBytes: 0, onFull: 'reject' }

/** Why the spool does not take new events right now. */
export type FullReason = 'max-bytes' | 'min-free' | 'unavailable'

export interface StoreState {
  /** Logical bytes of pending records. */
  bytes: number
  /** Free bytes on the data directory's filesystem at the last check; null = not known yet. */
  freeBytes: number | null
  /** False while the store refuses writes (a failed write; see store-health.ts). */
  writable: boolean
}

/**
 * May a record of `recordBytes` be appended? With `drop-oldest` the byte and
 * free-space limits never refuse: the oldest records are trimmed instead
 * (`trimTarget`). A store that cannot write refuses under every policy.
 */
export function admit(state: StoreState, limits: RetentionLimits, recordBytes: number): FullReason | null {
  if (!state.writable) return 'unavailable'
  if (limits.onFull === 'drop-oldest') return null
  if (limits.maxBytes > 0 && state.bytes + recordBytes > limits.maxBytes) return 'max-bytes'
  if (limits.minFreeBytes > 0 && state.freeBytes !== null && state.freeBytes < limits.minFreeBytes) return 'min-free'
  return null
}

/**
 * With `drop-oldest`: how many bytes of the oldest records to discard now, and
 * why (0 = none). Below the free-space floor the shortfall is trimmed, at
 * least 1% of the spool so a trim is worth its compaction.
 */
export function trimTarget(state: StoreState, limits: RetentionLimits): { bytes: number; reason: 'max-bytes' | 'min-free' } | null {
  if (limits.onFull !== 'drop-oldest') return null
  if (limits.maxBytes > 0 && state.bytes > limits.maxBytes) return { bytes: state.bytes - limits.maxBytes, reason: 'max-bytes' }
  if (limits.minFreeBytes > 0 && state.freeBytes !== null && state.freeBytes < limits.minFreeBytes && state.bytes > 0) {
    const short = limits.minFreeBytes - state.freeBytes
    return { bytes: Math.min(state.bytes, Math.max(short, Math.ceil(state.bytes / 100))), reason: 'min-free' }
  }
  return null
}

/** One contiguous run of discarded events, as logged. */
export interface DiscardRange {
  reason: string
  firstSeq: number
  lastSeq: number
  firstId: string
  lastId: string
  count: number
}

/**
 * Collects discarded events into ranges of consecutive sequence numbers with
 * the same reason, so a trim of 100,000 events is one log line, not 100,000.
 */
export function createDiscardRanges(): {
  add(reason: string, seq: number, id: string): void
  /** The ranges collected so far; empties the collector. */
  take(): DiscardRange[]
} {
  let ranges: DiscardRange[] = []
  return {
    add(reason, seq, id) {
      const last = ranges.at(-1)
      if (last && last.reason === reason && last.lastSeq + 1 === seq) {
        last.lastSeq = seq
        last.lastId = id
        last.count++
      } else {
        ranges.push({ reason, firstSeq: seq, lastSeq: seq, firstId: id, lastId: id, count: 1 })
      }
    },
    take() {
      const out = ranges
      ranges = []
      return out
    },
  }
}
