import t from 'tap'
import { encode } from 'cbor-x'
import { decodeRecord, encodeRecord, RecordDecodeError } from '../../src/spool/record-codec.js'
import type { StoredEvent } from '../../src/spool/types.js'

const base: StoredEvent = {
  seq: 7, id: 'gw-1-7', clientId: 'dev', topic: 'a/b', payload: new Uint8Array([1, 2, 3]), qos: 1, retain: false, acceptedAt: 1_700_000_000_000,
}

t.test('a record round-trips, with and without metadata', async (t) => {
  const plain = decodeRecord(7, encodeRecord(base))
  t.same({ ...plain, payload: [...plain.payload] }, { ...base, payload: [1, 2, 3] })
  t.notOk('meta' in plain, 'no meta key when the event had none')
  const meta = { 'device-type': 'meter', 'message': 'reading' }
  const withMeta = decodeRecord(7, encodeRecord({ ...base, attempts: 2, meta }))
  t.same(withMeta.meta, meta)
  t.equal(withMeta.attempts, 2)
  const routed = decodeRecord(7, encodeRecord({ ...base, upstreamTopic: 'fleet/gw/thermo/t1' }))
  t.equal(routed.upstreamTopic, 'fleet/gw/thermo/t1')
  t.notOk('meta' in routed, 'null metadata slot decodes to no meta')
})

t.test('metadata that is not a map of strings is reported, not trusted', async (t) => {
  const bad = encode([1, 'gw-1-7', 'dev', 'a/b', new Uint8Array([1]), 1, false, 1, 0, { n: 5 }])
  t.throws(() => decodeRecord(7, bad), /metadata is not a map of strings/)
  const long = encode([1, 'gw-1-7', 'dev', 'a/b', new Uint8Array([1]), 1, false, 1, 0, {}, 'up/topic', 'extra'])
  t.throws(() => decodeRecord(7, long), /unknown record layout/)
  let caught: unknown
  try { decodeRecord(7, bad) } catch (err) { caught = err }
  t.ok(caught instanceof RecordDecodeError, 'a RecordDecodeError, which the open check quarantines')
})

t.test('the hand-written encoding is byte for byte what cbor-x writes for the record array', async (t) => {
  const viaCborX = (e: StoredEvent): Buffer => {
    const fields: unknown[] = [1, e.id, e.clientId, e.topic, e.payload, e.qos, e.retain, e.acceptedAt, e.attempts ?? 0]
    if (e.meta !== undefined || e.upstreamTopic !== undefined) fields.push(e.meta ?? null)
    if (e.upstreamTopic !== undefined) fields.push(e.upstreamTopic)
    return Buffer.from(encode(fields))
  }
  const b = { ...base, payload: Buffer.from([1, 2, 3]) }
  const cases: StoredEvent[] = [
    b,
    { ...b, retain: true, qos: 2, attempts: 300 },
    { ...b, acceptedAt: 5 },
    { ...b, acceptedAt: 70_000 },
    { ...b, clientId: 'capteur-é-温度', topic: 'maison/salon/température' },
    { ...b, topic: 'x'.repeat(49), clientId: 'y'.repeat(300), payload: Buffer.alloc(70_000, 9) },
    { ...b, payload: Buffer.alloc(0) },
    { ...b, meta: { 'device-type': 'meter', 'message': 'reading', 'correlation-id': 'ü-1' } },
    { ...b, upstreamTopic: 'fleet/gw/thermo/t1' },
    { ...b, meta: { a: 'b' }, upstreamTopic: 'up/t' },
  ]
  for (const e of cases) {
    t.same(Buffer.from(encodeRecord(e)).toString('hex'), viaCborX(e).toString('hex'), `${e.clientId.slice(0, 12)} ${e.topic.slice(0, 12)} ${e.acceptedAt}`)
    const back = decodeRecord(e.seq, encodeRecord(e))
    t.same({ ...back, payload: Buffer.from(back.payload) }, e, 'and decodes back')
  }
})
