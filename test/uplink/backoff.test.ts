import t from 'tap'
import { backoffDelay } from '../../src/uplink/backoff.js'

const policy = { initialDelayMs: 100, maxDelayMs: 5000, multiplier: 2, jitter: 0 }

t.test('grows by the multiplier from the initial delay', async (t) => {
  t.same([0, 1, 2, 3, 4].map((n) => backoffDelay(n, policy)), [100, 200, 400, 800, 1600])
})

t.test('never exceeds maxDelayMs, also for huge attempt numbers', async (t) => {
  t.equal(backoffDelay(6, policy), 5000)
  t.equal(backoffDelay(10_000, policy), 5000)
})

t.test('jitter takes a random share off, within [base * (1 - jitter), base]', async (t) => {
  const jittery = { ...policy, jitter: 0.5 }
  t.equal(backoffDelay(2, jittery, () => 0), 400)
  t.equal(backoffDelay(2, jittery, () => 0.999999), 200)
  t.equal(backoffDelay(2, jittery, () => 0.5), 300)
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(i % 12, jittery)
    const base = Math.min(100 * 2 ** (i % 12), 5000)
    if (d < base * 0.5 - 1 || d > base) t.fail(`delay ${d} out of range for base ${base}`)
  }
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3, jittery)))
  t.ok(spread.size > 10, 'delays are spread, not in lockstep')
})

t.test('tolerates odd inputs', async (t) => {
  t.equal(backoffDelay(3, { ...policy, jitter: 5 }, () => 1), 0, 'jitter clamped to 1')
  t.equal(backoffDelay(3, { ...policy, jitter: -1 }, () => 1), 800, 'negative jitter clamped to 0')
  t.equal(backoffDelay(3, { ...policy, multiplier: 0.5 }), 100, 'multiplier below 1 does not shrink')
  t.equal(backoffDelay(-2, policy), 100, 'negative attempt = first')
  t.equal(backoffDelay(2000, { ...policy, initialDelayMs: 0 }), 0, 'zero initial delay stays 0, not NaN')
})
