import t from 'tap'
import { createReadSizes } from '../../src/spool/read-sizes.js'

t.test('sizes recorded by reads are taken once', async (t) => {
  const s = createReadSizes(100)
  const rec = s.begin(10)
  rec(10, 100)
  rec(12, 120) // 11 was not in the store
  t.equal(s.take(11), undefined)
  t.equal(s.take(12), 120)
  t.equal(s.take(12), undefined, 'taken once')
  t.equal(s.take(10), 100)
  t.equal(s.take(9), undefined)
})

t.test('a later read of the same seqs wins; old reads are forgotten past the bound', async (t) => {
  const s = createReadSizes(5)
  const a = s.begin(0)
  for (let i = 0; i < 4; i++) a(i, 10 + i)
  const b = s.begin(2)
  b(2, 99)
  t.equal(s.take(2), 99, 'the newest read is asked first')
  for (let i = 3; i < 6; i++) b(i, 20 + i)
  t.equal(s.take(0), undefined, 'the first read was dropped once more than 5 sizes were kept')
  t.equal(s.take(5), 25)
  s.clear()
  t.equal(s.take(4), undefined)
})
