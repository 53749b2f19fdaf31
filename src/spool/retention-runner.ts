import type { Logger } from 'pino'
import { ErrorCodes } from '../errors.js'
import { parseSeqKey } from './keys.js'
import { decodeRecord } from './record-codec.js'
import { createDiscardRanges, trimTarget, type RetentionLimits, type StoreState } from './retention.js'
import type { StoredEvent } from './types.js'

/** What the runner needs from the spool; spool.ts wires it to its state. */
export interface RetentionContext {
  log: Logger
  limits: RetentionLimits
  now: () => number
  /** The spool is open and its store takes writes. */
  active(): boolean
  state(): StoreState
  /** Up to `limit` stored records from `fromSeq` (or the head, if later), oldest first. */
  head(fromSeq: number, limit: number): AsyncIterable<[string, Uint8Array]>
  /** Already acknowledged or removed (a delete not yet written). */
  removed(seq: number): boolean
  /** Account for a discarded record (head, counts, bytes); the delete is written by `deleteKeys`. */
  discard(seq: number, size: number, kind: 'dropped' | 'expired'): void
  /** Delete these event keys, with the counters, unsynced (like acks). */
  deleteKeys(keys: string[]): Promise<void>
  /** Compact the discarded head so the disk space is freed, then read the free space again. */
  compactHead(): Promise<void>
  /** After a pass: room may have come back. */
  afterPass(): void
}

export interface RetentionRunner {
  /** Run a pass soon, unless nothing can be due; at most one at a time. */
  schedule(): void
  stop(): void
}

const CHUNK = 1000

/**
 * Expiry (`maxAgeMs`, whatever the policy) and drop-oldest trimming, from the
 * head of the log in chunks of 1,000 records, on a timer and when an append
 * passes a limit. Every discarded event is counted and logged, one line per
 * range of consecutive events (first and last id, count, reason).
 */
export function createRetentionRunner(ctx: RetentionContext, intervalMs: number): RetentionRunner {
  const ranges = createDiscardRanges()
  let running = false
  let again = false
  let stopped = false

  function schedule(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    if (ctx.limits.maxAgeMs <= 0 && trimTarget(ctx.state(), ctx.limits) === null) return
    running = true
    void pass().catch((err: unknown) => ctx.log.warn({ err }, 'spool retention pass failed; trying again at the next check'))
      .finally(() => {
        running = false
        if (again) {
          again = false
          setImmediate(schedule)
        }
      })
  }

  async function pass(): Promise<void> {
    if (!ctx.active()) return
    if (ctx.limits.maxAgeMs > 0) {
      const cutoff = ctx.now() - ctx.limits.maxAgeMs
      await discardHead('expired', Number.POSITIVE_INFINITY, (e) => e.acceptedAt < cutoff)
    }
    const target = trimTarget(ctx.state(), ctx.limits)
    if (target !== null) {
      const freed = await discardHead(target.reason === 'max-bytes' ? 'dropped: spool.maxBytes' : 'dropped: spool.minFreeBytes', target.bytes, () => true)
      // Deleted records free disk space only once compacted.
      if (target.reason === 'min-free' && freed > 0) await ctx.compactHead()
    }
    ctx.afterPass()
  }

  /** Discard records from the head while `discard` says so, up to `maxBytes`; returns the bytes freed. */
  async function discardHead(reason: string, maxBytes: number, discard: (e: StoredEvent) => boolean): Promise<number> {
    const kind = reason === 'expired' ? 'expired' : 'dropped'
    let freed = 0
    let done = false
    let from = 0
    while (!done && freed < maxBytes && ctx.active()) {
      const keys: string[] = []
      let seen = 0
      for await (const [key, raw] of ctx.head(from, CHUNK)) {
        seen++
        const seq = parseSeqKey(key)
        if (seq === null) continue
        from = seq + 1
        if (ctx.removed(seq)) continue
        let event: StoredEvent
        try {
          event = decodeRecord(seq, raw)
        } catch {
          continue // left for the reader, which quarantines it
        }
        if (!discard(event)) {
          done = true
          break
        }
        const size = key.length + raw.length
        keys.push(key)
        ranges.add(reason, seq, event.id)
        ctx.discard(seq, size, kind)
        freed += size
        if (freed >= maxBytes) break
      }
      if (seen === 0) break
      if (keys.length > 0) await ctx.deleteKeys(keys)
      for (const r of ranges.take()) {
        ctx.log.warn({ code: ErrorCodes.SPOOL_DISCARDED, ...r },
          `spool discarded ${r.count} event(s) ${r.firstId} .. ${r.lastId} (${r.reason}); they will not be forwarded`)
      }
    }
    return freed
  }

  const timer = setInterval(schedule, intervalMs)
  timer.unref()
  return {
    schedule,
    stop() {
      stopped = true
      clearInterval(timer)
    },
  }
}
