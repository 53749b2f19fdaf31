import t from 'tap'
import { PacketIds } from '../../src/uplink/packet-ids.js'

t.test('ids are given in turn, skip those in use, and wrap after 65535', async (t) => {
  const ids = new PacketIds<string>()
  t.equal(ids.claim('a'), 1)
  t.equal(ids.claim('b'), 2)
  t.equal(ids.size, 2)
  t.equal(ids.release(1), 'a')
  t.equal(ids.release(1), undefined, 'released once')
  t.equal(ids.size, 1)
  for (let id = 3; id <= 65535; id++) ids.claim(`x${id}`)
  t.equal(ids.claim('wrapped'), 1, 'after 65535 comes 1, free again')
  t.equal(ids.size, 65535)
  t.throws(() => ids.claim('none left'), /no free packet identifier/)
  t.equal(ids.release(2), 'b')
  t.equal(ids.claim('c'), 2, 'the one freed is found')
})

t.test('release ignores ids outside 1-65535; clear frees everything', async (t) => {
  const ids = new PacketIds<number>()
  ids.claim(10)
  ids.claim(20)
  for (const bad of [0, -1, 65536, 1.5, Number.NaN]) t.equal(ids.release(bad), undefined, `id ${bad}`)
  t.equal(ids.size, 2)
  ids.clear()
  t.equal(ids.size, 0)
  t.equal(ids.release(1), undefined)
  t.equal(ids.claim(30), 3, 'numbering goes on after a clear')
})
