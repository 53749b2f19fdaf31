import t from 'tap'
import { createRateLimiter } from '../../src/uplink/rate-limiter.js'

/** The token buckets alone, with a hand-driven clock. */

t.test('unlimited: never waits', async (t) => {
  const r = createRateLimiter({ eventsPerSec: 0, bytesPerSec: 0 }, 0)
  t.equal(r.limited, false)
  for (let i = 0; i < 1000; i++) r.take(1000, 1e9, 0)
  t.equal(r.waitMs(0), 0)
})

t.test('events per second: a burst of one second, then the rate', async (t) => {
  const r = createRateLimiter({ eventsPerSec: 10, bytesPerSec: 0 }, 0)
  let sent = 0
  while (r.waitMs(0) === 0) { r.take(1, 100, 0); sent++ }
  t.equal(sent, 10, 'burst = one second worth')
  const wait = r.waitMs(0)
  t.ok(wait > 0 && wait <= 1, `waits about one token's time (${wait} ms, one token = 100 ms, bucket at exactly 0)`)
  // Over 10 s of fake time, sending whenever allowed: about 10/s.
  let now = 0
  let inTenSeconds = 0
  while (now < 10_000) {
    const w = r.waitMs(now)
    if (w > 0) { now += w; continue }
    r.take(1, 0, now)
    inTenSeconds++
  }
  t.ok(inTenSeconds >= 99 && inTenSeconds <= 101, `~100 in 10 s (${inTenSeconds})`)
})

t.test('a message bigger than the bucket goes, and the debt is paid by waiting', async (t) => {
  const r = createRateLimiter({ eventsPerSec: 0, bytesPerSec: 1000 }, 0)
  t.equal(r.waitMs(0), 0)
  r.take(1, 5000, 0)
  const wait = r.waitMs(0)
  t.ok(wait >= 4000 && wait <= 4001, `4 s of debt (${wait} ms)`)
  t.equal(r.waitMs(4001), 0)
})

t.test('both limits: the stricter one decides', async (t) => {
  const r = createRateLimiter({ eventsPerSec: 1000, bytesPerSec: 100 }, 0)
  r.take(1, 200, 0)
  t.ok(r.waitMs(0) >= 1000, 'bytes limit holds it back')
  t.equal(r.waitMs(1001), 0)
})

t.test('time going backwards does not mint tokens', async (t) => {
  const r = createRateLimiter({ eventsPerSec: 1, bytesPerSec: 0 }, 1000)
  r.take(1, 0, 1000)
  t.ok(r.waitMs(500) > 0)
  t.ok(r.waitMs(1000) > 0, 'back to the start: still nothing minted')
  t.equal(r.waitMs(1500), 0, 'half a second later there is half a token: enough to go, into debt')
})
