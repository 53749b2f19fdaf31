import t from 'tap'
import { SeqWindow } from '../../src/consumer/seq-window.js'
import { parseEventId } from '../../src/consumer/event-id.js'

t.test('within the window every number is judged exactly, in any order', async (t) => {
  const w = new SeqWindow(64)
  const order = [10, 12, 11, 40, 13, 73, 20, 71]
  for (const s of order) t.equal(w.mark(s), 'new', `first ${s}`)
  for (const s of order) t.equal(w.mark(s), s <= 73 - 64 ? 'out-of-window' : 'duplicate', `again ${s}`)
  t.equal(w.peek(14), 'new', 'a gap inside the window is still new')
  t.equal(w.mark(14), 'new')
  t.equal(w.mark(14), 'duplicate')
  t.same(w.marked(), [10, 11, 12, 13, 14, 20, 40, 71, 73])
  t.equal(w.highest, 73)
})

t.test('sliding clears the slots it reuses', async (t) => {
  const w = new SeqWindow(8)
  for (let s = 0; s < 8; s++) w.mark(s)
  t.equal(w.mark(9), 'new')
  t.equal(w.peek(8), 'new', 'slot of 0, reused by 8, was cleared')
  t.equal(w.peek(1), 'out-of-window')
  t.equal(w.peek(2), 'duplicate')
  t.equal(w.mark(1000), 'new', 'a jump larger than the window')
  t.same(w.marked(), [1000])
  t.equal(w.peek(999), 'new')
  t.equal(w.peek(992), 'out-of-window')
})

t.test('peek never changes anything', async (t) => {
  const w = new SeqWindow(16)
  w.mark(5)
  t.equal(w.peek(100), 'new')
  t.equal(w.highest, 5)
  t.equal(w.peek(5), 'duplicate')
  t.throws(() => new SeqWindow(12), RangeError)
  t.throws(() => new SeqWindow(0), RangeError)
})

t.test('event ids: gateway id with dashes, canonical numbers only', async (t) => {
  t.same(parseEventId('gw-7-1700000000-42'), { stream: 'gw-7-1700000000', gatewayId: 'gw-7', seq: 42 })
  t.same(parseEventId('a-1-0'), { stream: 'a-1', gatewayId: 'a', seq: 0 })
  for (const bad of ['gw-1-042', 'gw-01-42', 'gw-1-', '-1-2', 'gw-1-x', 'gw', '1-2', 'gw-1-99999999999999999999', 'gw-1-2 ']) {
    t.equal(parseEventId(bad), undefined, bad)
  }
})
