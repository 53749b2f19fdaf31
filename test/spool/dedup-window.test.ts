import t from 'tap'
import { createDedupWindow } from '../../src/spool/dedup-window.js'

t.test('keeps the newest ids per client and evicts the oldest', async (t) => {
  const w = createDedupWindow(2)
  t.equal(w.set('a', 1, { digest: 'x', seq: 1, id: 'i1', confirmed: true }), undefined)
  t.equal(w.set('a', 2, { digest: 'y', seq: 2, id: 'i2', confirmed: true }), undefined)
  t.equal(w.set('b', 1, { digest: 'z', seq: 3, id: 'i3', confirmed: true }), undefined, 'other clients have their own window')
  t.equal(w.set('a', 1, { digest: 'w', seq: 4, id: 'i4', confirmed: true }), undefined, 'reusing an id refreshes it')
  t.equal(w.set('a', 3, { digest: 'v', seq: 5, id: 'i5', confirmed: true }), 2, 'id 2 is now the oldest')
  t.equal(w.get('a', 2), undefined)
  t.equal(w.get('a', 1)?.digest, 'w')
  t.equal(w.size, 3)
})

t.test('forget only removes the entry for that sequence number', async (t) => {
  const w = createDedupWindow(8)
  w.set('a', 1, { digest: 'x', seq: 1, id: 'i1', confirmed: true })
  w.forget('a', 1, 99)
  t.ok(w.get('a', 1))
  w.forget('a', 1, 1)
  t.equal(w.get('a', 1), undefined)
  t.equal(w.size, 0)
})
