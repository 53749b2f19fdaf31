import t from 'tap'
import { createCommitTiming } from '../../src/spool/commit-timing.js'

t.test('nothing recorded: zero writes, no figures', async (t) => {
  t.same(createCommitTiming().take(), { writes: 0, p50Ms: null, p99Ms: null, maxMs: null })
})

t.test('median, 99th percentile and maximum of the writes since the last take', async (t) => {
  const c = createCommitTiming()
  // 1000 writes: 0.2 ms .. 2.2 ms in even steps, then one slow write.
  for (let i = 0; i < 1000; i++) c.record(0.2 + (i / 1000) * 2)
  c.record(40)
  const r = c.take()
  t.equal(r.writes, 1001)
  t.ok(r.p50Ms! >= 1.15 && r.p50Ms! <= 1.25, `median near 1.2 ms (got ${r.p50Ms})`)
  t.ok(r.p99Ms! >= 2.1 && r.p99Ms! <= 2.25, `p99 near 2.18 ms (got ${r.p99Ms})`)
  t.equal(r.maxMs, 40)
  t.same(c.take(), { writes: 0, p50Ms: null, p99Ms: null, maxMs: null }, 'take starts again')
})

t.test('a percentile never reports more than the slowest write; beyond 100 ms the maximum stands in', async (t) => {
  const c = createCommitTiming()
  c.record(0.01)
  t.equal(c.take().p99Ms, 0.01, 'one fast write: its own time, not the bucket edge')
  for (let i = 0; i < 10; i++) c.record(250 + i)
  const r = c.take()
  t.equal(r.p50Ms, 259)
  t.equal(r.maxMs, 259)
})

t.test('bad values (negative, NaN) are not counted', async (t) => {
  const c = createCommitTiming()
  c.record(-1)
  c.record(Number.NaN)
  c.record(0.5)
  t.equal(c.take().writes, 1)
})
