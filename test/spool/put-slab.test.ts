import t from 'tap'
import { createPutSlab } from '../../src/spool/put-slab.js'
import { decodeRecord, encodeRecord, encodeRecordInto, recordBound } from '../../src/spool/record-codec.js'
import type { StoredEvent } from '../../src/spool/types.js'

const event = (seq: number, payloadBytes = 3, over: Partial<StoredEvent> = {}): StoredEvent => ({
  seq, id: `gw-1-${seq}`, clientId: 'dev', topic: 'a/b', payload: Buffer.alloc(payloadBytes, seq & 0xff), qos: 1, retain: false, acceptedAt: 1_700_000_000_000 + seq, ...over,
})

function taken(slab: ReturnType<typeof createPutSlab>): Array<[number, string]> {
  const out: Array<[number, string]> = []
  slab.take((seq, value) => out.push([seq, Buffer.from(value).toString('hex')]))
  return out
}

t.test('encodeRecordInto writes encodeRecord\'s bytes at an offset, within recordBound', async (t) => {
  const cases = [event(1), event(2, 0, { meta: { 'device-type': 'm' } }), event(3, 10, { upstreamTopic: 'up/é', clientId: 'dévice' }), event(2 ** 40, 1, { acceptedAt: 1.5 })]
  for (const e of cases) {
    const buf = Buffer.alloc(7 + recordBound(e), 0xee)
    const end = encodeRecordInto(e, buf, 7)
    t.same(buf.subarray(7, end), Buffer.from(encodeRecord(e)), `record ${e.seq}`)
    t.ok(end <= buf.length)
    t.equal(buf[6], 0xee, 'nothing before the offset is touched')
  }
})

t.test('records come out in order, each its own bytes, and the slab is empty after', async (t) => {
  const slab = createPutSlab(64)
  const events = [event(5), event(6, 40), event(9, 0)]
  const lengths = events.map((e) => slab.add(e))
  t.same(lengths, events.map((e) => encodeRecord(e).length), 'add returns the encoded length')
  t.equal(slab.count, 3)
  t.same(taken(slab), events.map((e) => [e.seq, Buffer.from(encodeRecord(e)).toString('hex')]))
  t.equal(slab.count, 0)
  t.same(taken(slab), [], 'a second take finds nothing')
  slab.add(event(10))
  t.same(taken(slab).map(([seq]) => seq), [10], 'the slab is written over after a take')
})

t.test('it grows past its first size and past 1024 records without losing any', async (t) => {
  const slab = createPutSlab(16)
  const events = Array.from({ length: 3000 }, (_, i) => event(i, i % 300))
  for (const e of events) slab.add(e)
  const out: StoredEvent[] = []
  slab.take((seq, value) => out.push(decodeRecord(seq, Buffer.from(value))))
  t.equal(out.length, 3000)
  t.same(out.map((e) => e.seq), events.map((e) => e.seq))
  t.same(out.map((e) => Buffer.from(e.payload).length), events.map((e) => e.payload.byteLength))
  t.same(Buffer.from(out[2999]!.payload), events[2999]!.payload)
})

t.test('dropLast takes back the record added last', async (t) => {
  const slab = createPutSlab()
  slab.add(event(1))
  slab.add(event(2, 50))
  slab.dropLast()
  slab.add(event(3))
  t.same(taken(slab).map(([seq]) => seq), [1, 3])
  slab.dropLast()
  t.equal(slab.count, 0, 'on an empty slab it does nothing')
})

t.test('a visit that throws still leaves the slab empty', async (t) => {
  const slab = createPutSlab()
  slab.add(event(1))
  slab.add(event(2))
  t.throws(() => slab.take(() => { throw new Error('batch closed') }), /batch closed/)
  t.equal(slab.count, 0)
  slab.add(event(3))
  t.same(taken(slab).map(([seq]) => seq), [3], 'the records of the failed take do not come back')
})

t.test('records larger than a chunk, and chunks past the first, are let go once taken', async (t) => {
  const slab = createPutSlab(1024)
  t.equal(slab.capacity, 1024)
  const events = [event(1, 100), event(2, 5000), event(3, 100), event(4, 900), event(5, 10)]
  for (const e of events) slab.add(e)
  t.ok(slab.capacity >= 1024 + 5000, 'a chunk of its own for the large record, more for the rest')
  t.same(taken(slab), events.map((e) => [e.seq, Buffer.from(encodeRecord(e)).toString('hex')]), 'every record whole, across chunks')
  t.equal(slab.capacity, 1024, 'back to one chunk')
  slab.add(event(99))
  t.same(taken(slab).map(([seq]) => seq), [99], 'and it works on')
})

t.test('dropLast gives back the room of the record it takes back', async (t) => {
  const slab = createPutSlab(1024)
  slab.add(event(1, 300))
  slab.add(event(2, 600))
  slab.dropLast()
  slab.add(event(3, 600))
  t.equal(slab.capacity, 1024, 'the third fits where the second was')
  t.same(taken(slab).map(([seq, hex]) => [seq, hex.length / 2]), [[1, encodeRecord(event(1, 300)).length], [3, encodeRecord(event(3, 600)).length]])
  slab.add(event(4, 300))
  slab.add(event(5, 2000))
  slab.dropLast()
  slab.add(event(6, 10))
  t.same(taken(slab).map(([seq]) => seq), [4, 6], 'also when the dropped record had a chunk of its own')
})

t.test('writeAppends: the slab\'s records go first, keyed by seq, and are gone even when the write cannot start', async (t) => {
  const { writeAppends } = await import('../../src/spool/open-db.js')
  const puts: string[] = []
  const db = {
    batch: () => ({
      put: (key: Buffer | string, value: Uint8Array) => { puts.push(`${Buffer.from(key).toString('latin1')}=${Buffer.from(value).length}`) },
      del: (key: string) => { puts.push(`del ${key}`) },
      write: async () => undefined,
    }),
  }
  const slab = createPutSlab()
  slab.add(event(0x1f))
  slab.add(event(0x20, 10))
  await writeAppends(db as never, '!e!', slab, [0x1f, { type: 'del', key: 'k' }, 0x20], true)
  t.same(puts, [
    `!e!000000000000001f=${encodeRecord(event(0x1f)).length}`,
    `!e!0000000000000020=${encodeRecord(event(0x20, 10)).length}`,
    'del k',
  ], 'numbers in the ops add nothing')
  slab.add(event(1))
  const closed = { batch: () => { throw new Error('database is not open') } }
  t.throws(() => writeAppends(closed as never, '!e!', slab, [1], true), /not open/)
  t.equal(slab.count, 0, 'the failed write took its records with it')
})
