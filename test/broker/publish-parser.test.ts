import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { decodePublish, frameAt, MALFORMED, speedUpPublishParsing, type PacketParser } from '../../src/broker/publish-parser.js'

const gen = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet)
const publish = (o: { topic?: string; payload?: Buffer | string; qos?: 0 | 1 | 2; retain?: boolean; dup?: boolean; messageId?: number }): Buffer => gen({
  cmd: 'publish', topic: o.topic ?? 'd/1/temp', payload: o.payload ?? Buffer.from('hello'), qos: o.qos ?? 1,
  retain: o.retain ?? false, dup: o.dup ?? false, ...(o.qos === 0 ? {} : { messageId: o.messageId ?? 7 }),
})

/** A connection's byte stream with every kind of packet a device sends, PUBLISHes of all shapes among them. */
function deviceStream(): Buffer {
  return Buffer.concat([
    gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-1', keepalive: 30 }),
    publish({ qos: 1, messageId: 1 }),
    publish({ qos: 0, topic: 'd/1/zero' }),
    publish({ qos: 1, retain: true, messageId: 2, topic: 'd/1/ünïcode' }),
    publish({ qos: 1, dup: true, messageId: 3, payload: Buffer.alloc(0) }),
    publish({ qos: 2, messageId: 4 }),
    gen({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'cmd/#', qos: 1 }] }),
    publish({ qos: 1, messageId: 6, payload: Buffer.alloc(300, 1) }),
    gen({ cmd: 'pingreq' }),
    // Larger than the tail kept between reads: gathered by the original parser.
    publish({ qos: 1, messageId: 8, payload: Buffer.alloc(20_000, 2) }),
    publish({ qos: 1, messageId: 9, payload: Buffer.alloc(200, 3) }),
    gen({ cmd: 'puback', messageId: 10 }),
    gen({ cmd: 'unsubscribe', messageId: 11, unsubscriptions: ['cmd/#'] }),
    publish({ qos: 1, messageId: 12 }),
    gen({ cmd: 'disconnect' }),
  ])
}

interface Seen { packets: object[]; errors: string[] }

/** A real mqtt-packet parser, sped up or not, fed `stream` in `chunk`-byte reads. */
function parseAll(stream: Buffer, chunk: number, fast: boolean): Seen {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const seen: Seen = { packets: [], errors: [] }
  // Compared as plain fields: the fast path builds its own objects.
  parser.on('packet', (p) => seen.packets.push({ ...p }))
  parser.on('error', (err) => seen.errors.push(err.message))
  if (fast) speedUpPublishParsing(parser as unknown as PacketParser)
  for (let i = 0; i < stream.length; i += chunk) parser.parse(stream.subarray(i, i + chunk))
  return seen
}

t.test('the sped-up parser emits what mqtt-packet emits, in order, in any chunking', async (t) => {
  const stream = deviceStream()
  const expected = parseAll(stream, stream.length, false)
  t.equal(expected.packets.length, 15, 'the reference parse saw every packet')
  t.same(expected.errors, [])
  for (const chunk of [1, 2, 3, 5, 17, 100, 1000, 4096, 9000, stream.length]) {
    const got = parseAll(stream, chunk, true)
    t.same(got, expected, `reads of ${chunk} bytes`)
  }
})

t.test('PUBLISHes at QoS 0 and 1 take the short path; the rest go to mqtt-packet', async (t) => {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const kinds: string[] = []
  parser.on('packet', (p) => kinds.push(`${p.cmd}:${p.constructor.name}`))
  speedUpPublishParsing(parser as unknown as PacketParser)
  parser.parse(Buffer.concat([publish({ qos: 1 }), publish({ qos: 0 }), publish({ qos: 2, messageId: 3 }), gen({ cmd: 'pingreq' })]))
  t.same(kinds, ['publish:PublishPacket', 'publish:PublishPacket', 'publish:Packet', 'pingreq:Packet'])
})

t.test('a malformed PUBLISH gets mqtt-packet\'s own error, and nothing after it is parsed', async (t) => {
  // Topic length 200 in a 10-byte body.
  const bad = Buffer.from([0x32, 10, 0, 200, 0x61, 0x62, 0, 1, 0x78, 0x79, 0x7a, 0x7a])
  const stream = Buffer.concat([publish({ messageId: 1 }), bad, publish({ messageId: 2 })])
  const reference = parseAll(stream, stream.length, false)
  t.ok(reference.errors.length > 0, 'mqtt-packet refuses it')
  for (const chunk of [1, 4, stream.length]) {
    const got = parseAll(stream, chunk, true)
    t.same(got.errors.slice(0, 1), reference.errors.slice(0, 1), `same first error, reads of ${chunk}`)
    t.same(got.packets.map((p) => (p as { messageId?: number }).messageId), [1], `only the packet before it, reads of ${chunk}`)
  }
})

t.test('a remaining length of more than four bytes goes to mqtt-packet, which refuses it', async (t) => {
  const stream = Buffer.concat([publish({ messageId: 1 }), Buffer.from([0x32, 0xff, 0xff, 0xff, 0xff, 0x01])])
  const reference = parseAll(stream, stream.length, false)
  const got = parseAll(stream, stream.length, true)
  t.ok(reference.errors.length > 0)
  t.same(got, reference)
})

t.test('an MQTT 5 parser is left to itself', async (t) => {
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  const kinds: string[] = []
  parser.on('packet', (p) => kinds.push(p.constructor.name))
  speedUpPublishParsing(parser as unknown as PacketParser)
  parser.on('error', (err) => kinds.push(err.message))
  parser.parse(mqttPacket.generate({ cmd: 'publish', topic: 'a', payload: 'x', qos: 1, messageId: 1, retain: false, dup: false, properties: { userProperties: { k: 'v' } } }, { protocolVersion: 5 }))
  t.same(kinds, ['Packet'])
})

t.test('frameAt: complete, unfinished, and malformed packets', async (t) => {
  const p = publish({ payload: Buffer.alloc(200) })
  t.same(frameAt(p, 0), { body: 3, end: p.length }, 'two length bytes')
  t.equal(frameAt(p.subarray(0, 1), 0), null, 'header only')
  t.equal(frameAt(p.subarray(0, 2), 0), null, 'length unfinished')
  t.equal(frameAt(p.subarray(0, p.length - 1), 0), null, 'body unfinished')
  const two = Buffer.concat([gen({ cmd: 'pingreq' }), p])
  t.same(frameAt(two, 0), { body: 2, end: 2 }, 'empty body')
  t.same(frameAt(two, 2), { body: 5, end: two.length }, 'at an offset')
  t.equal(frameAt(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), 0), MALFORMED)
})

t.test('decodePublish: the fields, and null for what it does not take', async (t) => {
  const p = publish({ topic: 'a/b', payload: 'xyz', qos: 1, retain: true, dup: true, messageId: 513 })
  const d = decodePublish(p, 0, { body: 2, end: p.length })
  t.same(d && { ...d }, { cmd: 'publish', retain: true, qos: 1, dup: true, length: p.length - 2, topic: 'a/b', payload: Buffer.from('xyz'), messageId: 513 })
  const q0 = publish({ qos: 0, topic: 't', payload: 'z' })
  t.same(decodePublish(q0, 0, { body: 2, end: q0.length })?.messageId, undefined, 'QoS 0 has no packet id')
  const q2 = publish({ qos: 2 })
  t.equal(decodePublish(q2, 0, { body: 2, end: q2.length }), null, 'QoS 2')
  const ping = gen({ cmd: 'pingreq' })
  t.equal(decodePublish(ping, 0, { body: 2, end: 2 }), null, 'not a PUBLISH')
  const noId = Buffer.from([0x32, 4, 0, 2, 0x61, 0x62])
  t.equal(decodePublish(noId, 0, { body: 2, end: noId.length }), null, 'no room for the packet id')
})
