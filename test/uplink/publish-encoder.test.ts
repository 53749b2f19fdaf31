import t from 'tap'
import mqttPacket, { type IPublishPacket } from 'mqtt-packet'
import { encodePublish, PublishEncoder } from '../../src/uplink/publish-encoder.js'

/** Our one-buffer PUBLISH encoder against mqtt-packet's parser (what brokers' clients agree on). */

function parse(bytes: Buffer, protocolVersion: 4 | 5): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: IPublishPacket[] = []
  const errors: Error[] = []
  parser.on('packet', (p) => packets.push(p as IPublishPacket))
  parser.on('error', (e) => errors.push(e))
  const left = parser.parse(bytes)
  if (errors.length > 0) throw errors[0]
  if (left !== 0 || packets.length !== 1) throw new Error(`parsed ${packets.length} packets, ${left} bytes left`)
  return packets[0]!
}

t.test('MQTT 5: topic, packet id, user properties, content type, payload', async (t) => {
  const payload = Buffer.from([0, 1, 2, 0xfa, 0xff])
  const bytes = encodePublish('outpost/gw/sensors/température', payload, {
    qos: 1,
    retain: false,
    properties: { contentType: 'application/json', userProperties: { 'outpost-id': 'gw-1-42', 'outpost-client': 'dév-1', 'outpost-ts': '1700000000000' } },
  }, 4242, 5)
  const p = parse(bytes, 5)
  t.equal(p.cmd, 'publish')
  t.equal(p.qos, 1)
  t.equal(p.retain, false)
  t.equal(p.dup, false)
  t.equal(p.messageId, 4242)
  t.equal(p.topic, 'outpost/gw/sensors/température')
  t.same(Buffer.from(p.payload as Buffer), payload)
  t.equal(p.properties?.contentType, 'application/json')
  t.same(p.properties?.userProperties, { 'outpost-id': 'gw-1-42', 'outpost-client': 'dév-1', 'outpost-ts': '1700000000000' })
  t.same(bytes, mqttPacket.generate({ ...p, payload } as IPublishPacket, { protocolVersion: 5 }), 'same bytes as mqtt-packet')
})

t.test('MQTT 5 without properties still has a zero property length', async (t) => {
  const p = parse(encodePublish('a/b', Buffer.from('x'), { qos: 1 }, 1, 5), 5)
  t.equal(p.topic, 'a/b')
  t.equal(p.messageId, 1)
  t.same(Buffer.from(p.payload as Buffer), Buffer.from('x'))
})

t.test('MQTT 3.1.1: no properties even when given', async (t) => {
  const bytes = encodePublish('a/b', Buffer.from('{"x":1}'), { qos: 1, properties: { userProperties: { k: 'v' } } }, 65535, 4)
  const p = parse(bytes, 4)
  t.equal(p.messageId, 65535)
  t.equal(p.topic, 'a/b')
  t.equal(Buffer.from(p.payload as Buffer).toString(), '{"x":1}')
  t.equal(p.properties, undefined)
})

t.test('remaining length over one and two varint bytes', async (t) => {
  for (const size of [0, 100, 127, 200, 16_400, 70_000]) {
    const payload = Buffer.alloc(size, 7)
    const p = parse(encodePublish('t', payload, { qos: 1, properties: { userProperties: { 'outpost-id': 'x' } } }, 9, 5), 5)
    t.equal((p.payload as Buffer).length, size, `payload of ${size} bytes`)
  }
})

t.test('repeated user property values', async (t) => {
  const p = parse(encodePublish('t', Buffer.alloc(0), { qos: 1, properties: { userProperties: { k: ['a', 'b'] } } }, 2, 5), 5)
  t.same(p.properties?.userProperties, { k: ['a', 'b'] })
})

t.test('many packets into one buffer, one after the other; long and repeated strings', async (t) => {
  const enc = new PublishEncoder(5)
  const buf = Buffer.alloc(1 << 20)
  let at = 0
  const sent: Array<{ topic: string; props: Record<string, string>; payload: Buffer; id: number }> = []
  for (let i = 0; i < 300; i++) {
    const topic = i % 3 === 0 ? `long/${'t'.repeat(300 + i)}` : `short/${i % 5}/é`
    const props = { 'outpost-id': `gw-1-${i}`, 'outpost-client': i % 2 === 0 ? 'dév' : 'c'.repeat(60), [`outpost-${'k'.repeat(i % 4 === 0 ? 300 : 3)}`]: 'v' }
    const payload = Buffer.alloc(i, i % 256)
    const size = enc.measure(topic, payload, { qos: 1, properties: { userProperties: props } })
    const end = enc.write(buf, at, i + 1)
    t.equal(end - at, size, `packet ${i}: measured size written`)
    at = end
    sent.push({ topic, props, payload, id: i + 1 })
  }
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  const packets: IPublishPacket[] = []
  parser.on('packet', (p) => packets.push(p as IPublishPacket))
  parser.on('error', (e) => t.fail(e.message))
  parser.parse(buf.subarray(0, at))
  t.equal(packets.length, sent.length)
  t.ok(packets.every((p, i) => p.topic === sent[i]!.topic && p.messageId === sent[i]!.id &&
    Buffer.from(p.payload as Buffer).equals(sent[i]!.payload) &&
    JSON.stringify(p.properties?.userProperties) === JSON.stringify(sent[i]!.props)), 'every packet parses back as written')
})
