/**
 * Token buckets per key (client and device type): `perSecond` tokens a
 * second, at most `burst` saved up. Pure: the clock is passed in.
 */
export interface RateLimiter {
  /** True when the event is within the rate (a token was taken). */
  take(key: string, nowMs: number): boolean
}

export function createRateLimiter(perSecond: number, burst: number, maxKeys = 100_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(key, nowMs) {
      let b = buckets.get(key)
      if (b === undefined) {
        if (buckets.size >= maxKeys) buckets.clear()
        b = { tokens: burst, at: nowMs }
        buckets.set(key, b)
      } else {
        b.tokens = Math.min(burst, b.tokens + ((nowMs - b.at) / 1000) * perSecond)
        b.at = nowMs
      }
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
  }
}
