import t from 'tap'
import { eventId, parseSeqKey, seqKey } from '../../src/spool/keys.js'
import { dedupBatchKey, dedupPrefix } from '../../src/spool/dedup-store.js'

t.test('sequence keys sort like the numbers they encode', async (t) => {
  const nums = [0, 1, 9, 10, 15, 16, 255, 256, 65535, 1e6, 2 ** 40, Number.MAX_SAFE_INTEGER]
  const keys = nums.map(seqKey)
  t.same([...keys].sort(), keys)
  t.same(keys.map(parseSeqKey), nums)
  t.equal(seqKey(255), '00000000000000ff')
})

t.test('bad sequence numbers and keys are refused', async (t) => {
  t.throws(() => seqKey(-1), TypeError)
  t.throws(() => seqKey(1.5), TypeError)
  t.throws(() => seqKey(2 ** 53), TypeError)
  t.equal(parseSeqKey('xyz'), null)
  t.equal(parseSeqKey('00000000000000FF'), null)
  t.equal(parseSeqKey('0ff'), null)
})

t.test('event ids and dedup keys', async (t) => {
  t.equal(eventId('gw-1', 3, 42), 'gw-1-3-42')
  t.not(dedupBatchKey('a', 12), dedupBatchKey('a1', 2))
  const a = dedupPrefix('a')
  const key = dedupBatchKey('a', 12)
  t.ok(key >= a.gte && key < a.lt, 'a device\'s keys fall in its prefix range')
  const other = dedupBatchKey('a1', 2)
  t.notOk(other >= a.gte && other < a.lt, 'another device\'s do not')
})
