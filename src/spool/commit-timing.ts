/**
 * How long the spool's synced writes (the group commits a PUBACK waits for)
 * took since the last look: count, median, 99th percentile and maximum. On
 * an SD card or a busy disk the fsync is what a device waits for, so the
 * status log carries these figures (docs/operations.md).
 *
 * Buckets of 0.05 ms up to 100 ms, then one overflow bucket (its percentile
 * is reported as the maximum seen). Pure: no clock, no I/O.
 */
export interface CommitTimes {
  writes: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

export interface CommitTiming {
  record(ms: number): void
  /** The figures since the previous take(), and start again. */
  take(): CommitTimes
}

const STEP_MS = 0.05
const BUCKETS = 2000

export function createCommitTiming(): CommitTiming {
  let counts = new Uint32Array(BUCKETS + 1)
  let writes = 0
  let max = 0

  function percentile(p: number): number {
    const rank = Math.ceil(writes * p)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i]!
      // The bucket's upper edge, but never above what was seen.
      if (seen >= rank) return Math.min(max, (i + 1) * STEP_MS)
    }
    return max
  }

  return {
    record(ms) {
      if (!(ms >= 0)) return
      const i = Math.floor(ms / STEP_MS)
      counts[i < BUCKETS ? i : BUCKETS]!++
      writes++
      if (ms > max) max = ms
    },
    take() {
      const out: CommitTimes = writes === 0
        ? { writes: 0, p50Ms: null, p99Ms: null, maxMs: null }
        : { writes, p50Ms: round(percentile(0.5)), p99Ms: round(percentile(0.99)), maxMs: round(max) }
      counts = new Uint32Array(BUCKETS + 1)
      writes = 0
      max = 0
      return out
    },
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100
