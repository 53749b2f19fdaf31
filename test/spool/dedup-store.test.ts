import t from 'tap'
import { createDedupKeyIndex, decodeDedupKey, dedupBatchKey, encodeDedupBatch } from '../../src/spool/dedup-store.js'
import { encodeValue } from '../../src/spool/record-codec.js'

t.test('a batch key round-trips its entries, ids rebuilt from the prefix', async (t) => {
  const key = dedupBatchKey('dev', 40)
  const raw = encodeDedupBatch('gw-3-', [7, 2 ** 52 + 5, 40, 8, 12345, 41])
  t.same(decodeDedupKey('dev', key, raw), [
    { messageId: 7, digest: 2 ** 52 + 5, seq: 40, id: 'gw-3-40' },
    { messageId: 8, digest: 12345, seq: 41, id: 'gw-3-41' },
  ])
})

t.test('a batch is written byte for byte as cbor-x writes the array', async (t) => {
  const cases: Array<[string, number[]]> = [
    ['gw-3-', [7, 2 ** 52 + 5, 40]],
    ['gw-1764000000000-', [65535, 0, 2 ** 32 - 1, 1, 2 ** 32, 2 ** 32 + 7, 300, 2 ** 53 - 1, 70000]],
    ['gé-', Array.from({ length: 3 * 40 }, (_, i) => i * 7919)],
    ['g-', []],
  ]
  for (const [prefix, triples] of cases) {
    t.same(Buffer.from(encodeDedupBatch(prefix, triples)), Buffer.from(encodeValue([prefix, ...triples])), `${prefix} with ${triples.length} numbers`)
  }
})

t.test('older single-entry keys are read; unknown layouts throw', async (t) => {
  t.same(decodeDedupKey('dev', 'dev\u000017', encodeValue({ digest: 'abc', seq: 3, id: 'gw-1-3' })),
    [{ messageId: 17, digest: 'abc', seq: 3, id: 'gw-1-3' }])
  t.throws(() => decodeDedupKey('dev', 'dev\u000017', encodeValue([1, 2, 3])))
  t.throws(() => decodeDedupKey('dev', 'dev\u0000x', encodeValue({ digest: 'abc', seq: 3, id: 'gw-1-3' })))
  t.throws(() => decodeDedupKey('dev', dedupBatchKey('dev', 1), encodeValue(['gw-1-', 1, 2])), 'a triple cut short')
  t.throws(() => decodeDedupKey('dev', dedupBatchKey('dev', 1), encodeValue(['gw-1-', 1, 'x', 3])), 'a digest of the wrong type')
})

t.test('the index deletes the oldest keys once the newer ones hold the window', async (t) => {
  const idx = createDedupKeyIndex(4)
  idx.loaded('a', [{ key: 'old1', count: 1 }, { key: 'old2', count: 2 }])
  t.same(idx.added('a', 'k1', 1), [], '4 entries: nothing can go')
  t.same(idx.added('a', 'k2', 3), ['old1', 'old2'], 'k1 + k2 hold 4')
  t.same(idx.added('a', 'k3', 10), ['k1', 'k2'], 'one big batch covers the window alone')
  t.same(idx.added('b', 'x', 1), [], 'devices are separate')
  t.same(idx.added('a', 'k4', 1), [], 'k3 stays: without it only 1 entry would be left')
})
