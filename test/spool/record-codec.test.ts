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
