import t from 'tap'
import type { StoredEvent } from '../../src/spool/types.js'
import { decodeEnvelope, encodeEnvelope, resolveEnvelope } from '../../src/uplink/envelope.js'
import { createPacketBuilder, exceedsPacketSize } from '../../src/uplink/packet-builder.js'
import { compileTopicTemplate } from '../../src/uplink/topic-template.js'

const event: StoredEvent = {
  seq: 42,
  id: 'gw-1700000000-42',
  clientId: 'dev-1',
  topic: 'sensors/temp',
  payload: new Uint8Array([0, 1, 2, 250, 255]),
  qos: 1,
  retain: true,
  acceptedAt: 1_700_000_000_123,
}
const upstreamTopic = compileTopicTemplate('outpost/{gatewayId}/{topic}', 'gw')

t.test('auto is json on 3.1.1 and none on MQTT 5; explicit modes stay', async (t) => {
  t.equal(resolveEnvelope('auto', 4), 'json')
  t.equal(resolveEnvelope('auto', 5), 'none')
  t.equal(resolveEnvelope('json', 5), 'json')
  t.equal(resolveEnvelope('none', 4), 'none')
})

t.test('json envelope: documented fields, payload base64, round trip', async (t) => {
  const bytes = encodeEnvelope(event)
  const parsed = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  t.same(Object.keys(parsed), ['id', 'clientId', 'topic', 'acceptedAt', 'qos', 'retain', 'payload'])
  t.same(parsed, {
    id: 'gw-1700000000-42',
    clientId: 'dev-1',
    topic: 'sensors/temp',
    acceptedAt: 1_700_000_000_123,
    qos: 1,
    retain: true,
    payload: 'AAEC+v8=',
  })
  const back = decodeEnvelope(bytes)
  t.same([...back.bytes], [0, 1, 2, 250, 255])
  t.equal(decodeEnvelope(encodeEnvelope({ ...event, payload: new Uint8Array(0) })).bytes.length, 0, 'empty payload')
})

t.test('MQTT 5 plain: user properties, payload bytes not copied, retain off upstream', async (t) => {
  const build = createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic })
  const stored = Buffer.from('hello')
  const packet = build({ ...event, payload: stored })
  if (typeof packet === 'string') throw new Error(packet)
  t.equal(packet.topic, 'outpost/gw/sensors/temp')
  t.equal(packet.payload, stored, 'same Buffer object')
  t.same(packet.opts, {
    qos: 1,
    retain: false,
    properties: {
      userProperties: {
        'outpost-id': 'gw-1700000000-42',
        'outpost-client': 'dev-1',
        'outpost-ts': '1700000000123',
        'outpost-retain': '1',
      },
    },
  })
  const plain = build({ ...event, retain: false })
  if (typeof plain === 'string') throw new Error(plain)
  t.notOk('outpost-retain' in (plain.opts.properties?.userProperties ?? {}), 'outpost-retain only when set')
  const u8 = new Uint8Array(new ArrayBuffer(16), 4, 5)
  const view = build({ ...event, payload: u8 })
  if (typeof view === 'string') throw new Error(view)
  t.equal(view.payload.buffer, u8.buffer, 'Uint8Array payload becomes a view on the same memory')
  t.equal(view.payload.byteOffset, 4)
})

t.test('3.1.1: json envelope or bare payload, no properties', async (t) => {
  const json = createPacketBuilder({ protocolVersion: 4, envelope: 'json', upstreamTopic })(event)
  if (typeof json === 'string') throw new Error(json)
  t.same(json.opts, { qos: 1, retain: false })
  t.equal(decodeEnvelope(json.payload).id, event.id)
  const bare = createPacketBuilder({ protocolVersion: 4, envelope: 'none', upstreamTopic })(event)
  if (typeof bare === 'string') throw new Error(bare)
  t.same([...bare.payload], [0, 1, 2, 250, 255])
})

t.test('MQTT 5 with json envelope also carries the properties and a content type', async (t) => {
  const packet = createPacketBuilder({ protocolVersion: 5, envelope: 'json', upstreamTopic })(event)
  if (typeof packet === 'string') throw new Error(packet)
  t.equal(packet.opts.properties?.contentType, 'application/json')
  t.equal(packet.opts.properties?.userProperties?.['outpost-id'], event.id)
  t.equal(decodeEnvelope(packet.payload).topic, 'sensors/temp', 'the envelope keeps the device topic')
})

t.test('an invalid upstream topic gives a reason instead of a packet', async (t) => {
  const build = createPacketBuilder({
    protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('x/{clientId}', 'gw'),
  })
  t.match(build({ ...event, clientId: 'a+b' }), /not a valid MQTT topic name/)
})

t.test('exceedsPacketSize compares the exact encoded size', async (t) => {
  const build = createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic })
  const packet = build({ ...event, payload: Buffer.alloc(100) })
  if (typeof packet === 'string') throw new Error(packet)
  // topic 2+23 + packet id 2 + properties (1 + 4 user props) + payload 100 = 231 remaining bytes,
  // so the fixed header is 1 + 2 (remaining length >= 128 takes two bytes): 234, as mqtt-packet makes it.
  const props = [['outpost-id', event.id], ['outpost-client', 'dev-1'], ['outpost-ts', '1700000000123'], ['outpost-retain', '1']]
    .reduce((n, [k, v]) => n + 5 + k!.length + v!.length, 0)
  const size = 3 + 2 + 23 + 2 + 1 + props + 100
  t.equal(size, 234)
  t.notOk(exceedsPacketSize(packet, size))
  t.ok(exceedsPacketSize(packet, size - 1))
  const v4 = createPacketBuilder({ protocolVersion: 4, envelope: 'none', upstreamTopic })({ ...event, payload: Buffer.alloc(10) })
  if (typeof v4 === 'string') throw new Error(v4)
  t.notOk(exceedsPacketSize(v4, 2 + 2 + 23 + 2 + 10))
  t.ok(exceedsPacketSize(v4, 2 + 2 + 23 + 2 + 9))
})

t.test('event metadata travels as outpost-<key> user properties and in the envelope', async (t) => {
  const withMeta: StoredEvent = { ...event, meta: { 'device-type': 'thermometer', 'contract-version': '1' } }
  const v5 = createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic })(withMeta)
  if (typeof v5 === 'string') throw new Error(v5)
  const props = v5.opts.properties?.userProperties ?? {}
  t.equal(props['outpost-device-type'], 'thermometer')
  t.equal(props['outpost-contract-version'], '1')
  t.equal(props['outpost-id'], event.id, 'the standard properties stay')
  const parsed = JSON.parse(encodeEnvelope(withMeta).toString('utf8')) as Record<string, unknown>
  t.same(parsed['meta'], { 'device-type': 'thermometer', 'contract-version': '1' })
  t.notOk('meta' in (JSON.parse(encodeEnvelope(event).toString('utf8')) as object), 'no meta field without metadata')
})

t.test('an upstream topic chosen at ingest wins over the template', async (t) => {
  const build = createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic })
  const routed = build({ ...event, upstreamTopic: 'fleet/gw/thermometer/t1' })
  if (typeof routed === 'string') throw new Error(routed)
  t.equal(routed.topic, 'fleet/gw/thermometer/t1')
  const plain = build(event)
  if (typeof plain === 'string') throw new Error(plain)
  t.equal(plain.topic, 'outpost/gw/sensors/temp')
})
