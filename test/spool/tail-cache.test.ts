import t from 'tap'
import { createTailCache } from '../../src/spool/tail-cache.js'
import type { StoredEvent } from '../../src/spool/types.js'
import { fullGc } from '../../src/observability/memory.js'

const rec = (seq: number): StoredEvent => ({ seq, id: `gw-1-${seq}`, clientId: 'd', topic: 't', payload: Buffer.from([seq & 255]), qos: 1, retain: false, acceptedAt: 0 })
const none = (): boolean => false

t.test('serves a contiguous run, bounded, oldest dropped first', async (t) => {
  const c = createTailCache(4)
  t.equal(c.read(0, 10, 10, none), null, 'empty: read the store')
  for (let s = 10; s < 16; s++) c.push(rec(s), 100 + s)
  t.equal(c.first, 12)
  t.equal(c.length, 4)
  t.equal(c.read(11, 16, 10, none), null, 'below the run: read the store')
  t.same(c.read(12, 16, 10, none)!.map((e) => e.seq), [12, 13, 14, 15])
  t.same(c.read(13, 15, 10, none)!.map((e) => e.seq), [13, 14], 'stops at the committed end')
  t.same(c.read(12, 16, 2, none)!.map((e) => e.seq), [12, 13], 'stops at the limit')
  t.equal(c.read(16, 20, 10, none), null, 'past the run')
  t.same(c.read(12, 16, 10, (s) => s === 13)!.map((e) => e.seq), [12, 14, 15], 'removed records are skipped')
  t.equal(c.size(14), 114)
  t.equal(c.size(11), undefined)
})

t.test('a gap starts a new run; dropBelow and replace', async (t) => {
  const c = createTailCache(100)
  c.push(rec(1), 1)
  c.push(rec(2), 2)
  c.push(rec(5), 5)
  t.equal(c.first, 5, 'seq 3 and 4 never committed: the run restarts at 5')
  t.equal(c.read(2, 6, 10, none), null)
  c.push(rec(6), 6)
  c.push(rec(7), 7)
  c.dropBelow(7)
  t.equal(c.first, 7)
  t.same(c.read(7, 8, 10, none)!.map((e) => e.seq), [7])
  const changed = { ...rec(7), attempts: 2 }
  c.replace(changed)
  c.replace({ ...rec(99), attempts: 1 })
  t.equal(c.read(7, 8, 10, none)![0]!.attempts, 2)
  c.dropBelow(100)
  t.equal(c.length, 0)
  c.push(rec(100), 1)
  t.same(c.read(100, 101, 10, none)!.map((e) => e.seq), [100], 'after emptying, a push starts again')
  c.clear()
  t.equal(c.read(100, 101, 10, none), null)
})

t.test('long runs stay bounded and in order (compaction of the arrays)', async (t) => {
  const c = createTailCache(3000)
  for (let s = 0; s < 20_000; s++) {
    c.push(rec(s), s)
    if (s % 7 === 0) c.dropBelow(s - 100)
  }
  const lastDrop = 19_999 - (19_999 % 7)
  t.equal(c.first, lastDrop - 100, 'the last dropBelow set the start')
  t.equal(c.length, 20_000 - (lastDrop - 100))
  const got = c.read(c.first, 20_000, 100_000, none)!
  t.equal(got.length, c.length)
  t.ok(got.every((e, i) => e.seq === c.first + i), 'contiguous and in order')
  t.equal(c.size(19_999), 19_999)
})

t.test('max 0 keeps nothing', async (t) => {
  const c = createTailCache(0)
  c.push(rec(1), 1)
  t.equal(c.read(1, 2, 10, none), null)
})

t.test('bounded by bytes too: large records push the oldest out, the newest always stays', async (t) => {
  const c = createTailCache(1000, 1000)
  for (let s = 0; s < 10; s++) c.push(rec(s), 300)
  t.equal(c.length, 3, '3 x 300 fit in 1000 bytes')
  t.equal(c.bytes, 900)
  t.equal(c.first, 7)
  c.push(rec(10), 5000)
  t.equal(c.length, 1, 'a record larger than the bound is kept alone')
  t.equal(c.first, 10)
  t.equal(c.bytes, 5000)
  c.dropBelow(11)
  t.equal(c.bytes, 0)
  c.push(rec(11), 10)
  t.equal(c.bytes, 10, 'a new run counts from zero')
})

t.test('setLimits: the oldest go at once when the bounds shrink; nothing is lost when they grow', async (t) => {
  const c = createTailCache(10, 1000)
  for (let s = 0; s < 10; s++) c.push(rec(s), 10)
  c.setLimits(4, 1000)
  t.equal(c.first, 6)
  t.equal(c.length, 4)
  c.setLimits(100, 25)
  t.same(c.read(0, 10, 10, none), null)
  t.equal(c.length, 2, 'the byte bound: two records of 10 bytes fit under 25')
  c.setLimits(100, 10_000)
  for (let s = 10; s < 50; s++) c.push(rec(s), 10)
  t.equal(c.length, 42, 'grown: the two kept and the 40 new ones')
  c.setLimits(0, 10_000)
  t.equal(c.length, 0, '0 records: none kept')
  c.push(rec(50), 10)
  t.equal(c.length, 0, 'and none taken')
})

t.test('records that leave the run are no longer held: the collector can take them at once', async (t) => {
  const gc = fullGc()
  t.ok(gc, 'V8\'s collector can be called at run time')
  if (gc === null) return
  const c = createTailCache(10_000)
  const refs: Array<WeakRef<StoredEvent>> = []
  // Built in a function of their own so no local variable of this test keeps one.
  const fill = (): void => {
    for (let s = 0; s < 3000; s++) {
      const r = rec(s)
      refs.push(new WeakRef(r))
      c.push(r, 1)
    }
  }
  fill()
  // Below half the array and under 1,024 slots: no compaction ran, the slots stay.
  c.dropBelow(1000)
  // WeakRef targets are kept until the current job ends.
  await new Promise((r) => setImmediate(r))
  gc()
  const alive = (from: number, to: number): number => refs.slice(from, to).filter((w) => w.deref() !== undefined).length
  t.equal(alive(0, 1000), 0, 'the 1,000 dropped records were collected')
  t.equal(alive(1000, 3000), 2000, 'the rest are still held')
  t.same(c.read(1000, 1003, 10, none)!.map((e) => e.seq), [1000, 1001, 1002])
})
