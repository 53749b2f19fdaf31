import t from 'tap'
import { DedupFilter } from '../../src/consumer/dedup-filter.js'

t.test('ids of many streams, each judged by its own window', async (t) => {
  const f = new DedupFilter({ window: 64 })
  t.equal(f.mark('gw-a-1-5'), 'new')
  t.equal(f.mark('gw-a-2-5'), 'new', 'same seq, other epoch: another stream')
  t.equal(f.mark('gw-b-1-5'), 'new', 'other gateway')
  t.equal(f.mark('gw-a-1-5'), 'duplicate')
  t.equal(f.mark('gw-a-2-5'), 'duplicate')
  t.equal(f.size.streams, 3)
})

t.test('a repeated suffix after a cut is dropped exactly', async (t) => {
  const f = new DedupFilter({ window: 1024 })
  const sent = [...Array(600).keys()].map((i) => `gw-3-${i}`)
  const resent = [...sent.slice(0, 400), ...sent.slice(350, 600)] // 350..399 twice
  const verdicts = resent.map((id) => f.mark(id))
  t.equal(verdicts.filter((v) => v === 'new').length, 600)
  t.equal(verdicts.filter((v) => v === 'duplicate').length, 50)
})

t.test('streams beyond maxStreams are forgotten least recently used first', async (t) => {
  const f = new DedupFilter({ window: 8, maxStreams: 2 })
  f.mark('a-1-1'); f.mark('b-1-1'); f.mark('a-1-2') // a is now the most recent
  f.mark('c-1-1') // evicts b
  t.equal(f.peek('a-1-1'), 'duplicate')
  t.equal(f.peek('b-1-1'), 'new', 'b was forgotten: the documented limit')
  t.equal(f.size.evictedStreams, 1)
  t.equal(f.size.streams, 2)
})

t.test('other ids: an exact, bounded set', async (t) => {
  const f = new DedupFilter({ maxOtherIds: 3 })
  for (const id of ['x', 'y', 'z']) t.equal(f.mark(id), 'new')
  t.equal(f.mark('x'), 'duplicate', 'x is now most recent')
  f.mark('w') // evicts y
  t.equal(f.peek('y'), 'new')
  t.equal(f.peek('x'), 'duplicate')
  t.equal(f.size.otherIds, 3)
  t.equal(f.size.evictedOtherIds, 1)
})

t.test('remembered() rebuilds the same state', async (t) => {
  const f = new DedupFilter({ window: 16, maxStreams: 3, maxOtherIds: 5 })
  const ids = ['a-1-1', 'b-1-7', 'a-1-3', 'odd', 'c-2-100', 'a-1-30', 'b-1-9', 'd-1-1', 'other']
  for (const id of ids) f.mark(id)
  const g = new DedupFilter(f.limits)
  for (const id of f.remembered()) g.mark(id)
  t.same([...g.remembered()], [...f.remembered()])
  for (const probe of [...ids, 'a-1-2', 'a-1-15', 'a-1-14', 'c-2-99', 'zzz']) t.equal(g.peek(probe), f.peek(probe), probe)
  t.throws(() => new DedupFilter({ maxStreams: 0 }), RangeError)
  t.throws(() => new DedupFilter({ window: 10 }), RangeError)
})

t.test('against an exact set: same answers whenever an id is within the window', async (t) => {
  // A fixed-seed generator, so a failure can be replayed.
  let seed = 12345
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  const W = 256
  const f = new DedupFilter({ window: W, maxStreams: 8 })
  const exact = new Set<string>()
  const high = new Map<string, number>()
  let judged = 0
  for (let i = 0; i < 50_000; i++) {
    const stream = `gw${rand(3)}-${rand(2) + 1}`
    const h = high.get(stream) ?? 0
    // Mostly new numbers just above the top, often re-sends and gaps below it.
    const seq = Math.max(0, rand(4) === 0 ? h + 1 + rand(20) : h - rand(W + 40))
    const id = `${stream}-${seq}`
    const inWindow = seq > h - W || !high.has(stream)
    const verdict = f.mark(id)
    if (inWindow) {
      judged++
      if (verdict !== (exact.has(id) ? 'duplicate' : 'new')) {
        t.fail(`step ${i}: ${id} judged ${verdict}, exact set says ${exact.has(id) ? 'duplicate' : 'new'}`)
        return
      }
    } else if (verdict !== 'out-of-window') {
      t.fail(`step ${i}: ${id} below the window judged ${verdict}`)
      return
    }
    if (verdict === 'new') exact.add(id)
    high.set(stream, Math.max(h, seq))
  }
  t.ok(judged > 40_000, `${judged} ids judged within the window, all like the exact set`)
})
