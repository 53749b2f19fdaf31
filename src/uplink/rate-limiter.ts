import type { UplinkRateLimit } from './types.js'

/**
 * Token buckets for `upstream.rateLimit`: events per second and payload bytes
 * per second, each 0 = unlimited. Pure: the caller passes the time.
 *
 * Each bucket holds at most one second's worth of tokens (the burst) and
 * starts full. A message may be sent while both buckets hold tokens; its
 * cost is then taken whole, so a bucket can go into debt (a batch larger than
 * one second's worth is still sent, and what follows waits for the debt to
 * be paid). Long-run rate = the configured rate; no timer per event: the
 * forwarder asks `waitMs()` and sets one timer when it must wait.
 */
export interface RateLimiter {
  /** 0 when a message may go now, else how long to wait (ms). */
  waitMs(now: number): number
  /** Charge a message of `events` events and `bytes` payload bytes. */
  take(events: number, bytes: number, now: number): void
  readonly limited: boolean
}

interface Bucket { rate: number; tokens: number }

export function createRateLimiter(limit: UplinkRateLimit, start: number): RateLimiter {
  const buckets: Bucket[] = []
  if (limit.eventsPerSec > 0) buckets.push({ rate: limit.eventsPerSec, tokens: limit.eventsPerSec })
  const events = buckets[0]
  if (limit.bytesPerSec > 0) buckets.push({ rate: limit.bytesPerSec, tokens: limit.bytesPerSec })
  const bytes = limit.bytesPerSec > 0 ? buckets.at(-1) : undefined
  let last = start

  function refill(now: number): void {
    const dt = Math.max(0, now - last) / 1000
    last = Math.max(last, now)
    for (const b of buckets) b.tokens = Math.min(b.rate, b.tokens + dt * b.rate)
  }

  return {
    limited: buckets.length > 0,
    waitMs(now) {
      if (buckets.length === 0) return 0
      refill(now)
      let wait = 0
      for (const b of buckets) {
        if (b.tokens <= 0) wait = Math.max(wait, Math.floor((-b.tokens / b.rate) * 1000) + 1)
      }
      return wait
    },
    take(n, size, now) {
      if (buckets.length === 0) return
      refill(now)
      if (limit.eventsPerSec > 0 && events !== undefined) events.tokens -= n
      if (bytes !== undefined) bytes.tokens -= size
    },
  }
}
