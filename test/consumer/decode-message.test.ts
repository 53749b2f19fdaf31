import t from 'tap'
import { decodeUpstreamMessage } from '../../src/consumer/decode-message.js'
import { encodeBatch, BATCH_CONTENT_TYPE } from '../../src/wire/batch-codec.js'
import { parseEnvelope } from '../../src/wire/envelope.js'
import { encodeEnvelope } from '../../src/uplink/envelope.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import type { StoredEvent } from '../../src/spool/types.js'

const stored: StoredEvent = {
  seq: 42, id: 'gw-7-3-42', clientId: 'dev-1', topic: 'sensors/t', payload: Buffer.from([0, 1, 0xfe]),
  qos: 1, retain: true, acceptedAt: 1_700_000_000_123, meta: { 'device-type': 'meter' },
}

function codeOf(fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}` }
  return undefined
}

t.test('MQTT 5 user properties', async (t) => {
  const [e, ...rest] = decodeUpstreamMessage({
    topic: 'outpost/gw-7/sensors/t', payload: Buffer.from('21.5'),
    properties: { userProperties: { 'outpost-id': 'gw-7-3-42', 'outpost-client': 'dev-1', 'outpost-ts': '1700000000123', 'outpost-retain': '1', 'outpost-device-type': 'meter', 'other': 'x' } },
  })
  t.equal(rest.length, 0)
  t.match(e, { id: 'gw-7-3-42', clientId: 'dev-1', upstreamTopic: 'outpost/gw-7/sensors/t', acceptedAt: 1_700_000_000_123, retain: true, meta: { 'device-type': 'meter' }, format: 'properties' })
  t.equal(e?.topic, undefined, 'the device topic does not travel in this mode')
  t.equal(Buffer.from(e?.payload ?? []).toString(), '21.5')
  const plain = decodeUpstreamMessage({ topic: 'u', payload: Buffer.from('x'), properties: { userProperties: { 'outpost-id': 'gw-1-1', 'outpost-ts': 'soon', 'outpost-historical': '1' } } })[0]
  t.equal(plain?.retain, false)
  t.equal(plain?.acceptedAt, undefined, 'a malformed timestamp is left out, not guessed')
  t.equal(plain?.historical, true)
  t.notOk(plain && 'meta' in plain)
  const repeated = decodeUpstreamMessage({ topic: 'u', payload: Buffer.from('x'), properties: { userProperties: { 'outpost-id': ['gw-1-1', 'gw-1-2'] } } })[0]
  t.equal(repeated?.id, 'gw-1-1', 'a repeated property: the first value counts')
})

t.test('the JSON envelope, as the uplink writes it', async (t) => {
  const bytes = encodeEnvelope(stored)
  const [e] = decodeUpstreamMessage({ topic: 'outpost/gw-7/sensors/t', payload: bytes })
  t.match(e, { id: 'gw-7-3-42', clientId: 'dev-1', topic: 'sensors/t', acceptedAt: 1_700_000_000_123, qos: 1, retain: true, meta: { 'device-type': 'meter' }, format: 'envelope' })
  t.same([...(e?.payload ?? [])], [0, 1, 0xfe])
  // MQTT 5 with envelope: json: properties and the envelope; the envelope is read.
  const [v5] = decodeUpstreamMessage({ topic: 'u', payload: bytes, properties: { contentType: 'application/json', userProperties: { 'outpost-id': 'gw-7-3-42' } } })
  t.equal(v5?.format, 'envelope')
  t.equal(v5?.topic, 'sensors/t')
  t.equal(codeOf(() => decodeUpstreamMessage({ topic: 'u', payload: Buffer.from('{"id":'), properties: { contentType: 'application/json', userProperties: { 'outpost-id': 'x' } } })), ErrorCodes.ENVELOPE_INVALID)
})

t.test('envelope validation', async (t) => {
  const good = JSON.parse(encodeEnvelope(stored).toString()) as Record<string, unknown>
  const bad = (patch: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ ...good, ...patch }))
  for (const [name, bytes] of [
    ['qos 5', bad({ qos: 5 })], ['acceptedAt string', bad({ acceptedAt: '1' })], ['payload not base64', bad({ payload: 'a$b=' })],
    ['payload unpadded', bad({ payload: 'AAE' })], ['meta number', bad({ meta: { a: 1 } })], ['retain string', bad({ retain: 'yes' })],
    ['clientId missing', bad({ clientId: undefined })], ['historical string', bad({ historical: 'no' })],
  ] as Array<[string, Buffer]>) {
    t.equal(codeOf(() => parseEnvelope(bytes)), ErrorCodes.ENVELOPE_INVALID, name)
    // Without properties, a message with a string id and payload is an envelope: broken -> error, not a device payload.
    t.equal(codeOf(() => decodeUpstreamMessage({ topic: 'u', payload: bytes })), ErrorCodes.ENVELOPE_INVALID, `${name} (3.1.1)`)
  }
  const e = parseEnvelope(bad({ future: [1, 2], historical: true }))
  t.equal(e.historical, true, 'known optional field read, unknown field ignored')
  const nulls = parseEnvelope(bad({ meta: null, historical: null }))
  t.notOk('meta' in nulls || 'historical' in nulls, 'null optional fields read as absent')
})

t.test('batches, recognised by bytes or by properties', async (t) => {
  const bytes = encodeBatch('gw-7', [
    { id: 'gw-7-3-1', clientId: 'a', topic: 't/1', acceptedAt: 1, qos: 1, retain: false, payload: Buffer.from('one'), historical: false },
    { id: 'gw-7-3-2', clientId: 'b', topic: 't/2', acceptedAt: 2, qos: 2, retain: true, payload: Buffer.from('two'), meta: { k: 'v' }, historical: true },
  ])
  const events = decodeUpstreamMessage({ topic: 'outpost/gw-7/batch', payload: bytes })
  t.same(events.map((e) => [e.id, e.clientId, e.topic, e.acceptedAt, e.qos, e.retain, Buffer.from(e.payload).toString(), e.meta, e.historical, e.format, e.upstreamTopic]), [
    ['gw-7-3-1', 'a', 't/1', 1, 1, false, 'one', undefined, false, 'batch', 'outpost/gw-7/batch'],
    ['gw-7-3-2', 'b', 't/2', 2, 2, true, 'two', { k: 'v' }, true, 'batch', 'outpost/gw-7/batch'],
  ])
  const v5 = decodeUpstreamMessage({ topic: 'u', payload: bytes, properties: { contentType: BATCH_CONTENT_TYPE, userProperties: { 'outpost-batch': '1', 'outpost-count': '2' } } })
  t.equal(v5.length, 2)
  t.equal(codeOf(() => decodeUpstreamMessage({ topic: 'u', payload: Buffer.from('garbage'), properties: { contentType: BATCH_CONTENT_TYPE } })), ErrorCodes.BATCH_INVALID, 'declared a batch, is not one')
  t.equal(codeOf(() => decodeUpstreamMessage({ topic: 'u', payload: bytes.subarray(0, bytes.length - 3) })), ErrorCodes.BATCH_INVALID, 'truncated')
})

t.test('anything else passes through without an id', async (t) => {
  for (const payload of [Buffer.from('21.5'), Buffer.from('{"temp":21}'), Buffer.from('{"id":"not-an-envelope"}'), Buffer.from('{broken'), Buffer.alloc(0), Buffer.from([0xd9, 0xd9, 0xf7, 0x01])]) {
    const [e, ...rest] = decodeUpstreamMessage({ topic: 'dev/raw', payload })
    t.equal(rest.length, 0)
    t.same({ ...e, payload: undefined }, { upstreamTopic: 'dev/raw', payload: undefined, format: 'raw' }, payload.toString('hex'))
    t.equal(e?.payload, payload)
  }
  const noId = decodeUpstreamMessage({ topic: 'u', payload: Buffer.from('x'), properties: { userProperties: { 'outpost-client': 'dev' } } })
  t.equal(noId[0]?.format, 'raw', 'properties without outpost-id')
})
