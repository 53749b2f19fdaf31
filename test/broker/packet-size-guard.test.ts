import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { createPacketScanner } from '../../src/broker/packet-size-guard.js'

const publish = (payloadBytes: number): Buffer => mqttPacket.generate({
  cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(payloadBytes), qos: 1, messageId: 1, retain: false, dup: false,
} as mqttPacket.IPublishPacket)

t.test('packets under the limit pass, in any chunking', async (t) => {
  const stream = Buffer.concat([publish(10), publish(200), publish(0), publish(16_000), mqttPacket.generate({ cmd: 'pingreq' })])
  for (const size of [1, 2, 3, 7, 64, stream.length]) {
    const scanner = createPacketScanner(20_000)
    let verdict = { kind: 'ok' } as ReturnType<typeof scanner.feed>
    for (let i = 0; i < stream.length && verdict.kind === 'ok'; i += size) verdict = scanner.feed(stream.subarray(i, i + size))
    t.same(verdict, { kind: 'ok' }, `chunks of ${size} bytes`)
  }
})

t.test('the first packet over the limit is reported from its header alone', async (t) => {
  const big = publish(30_000)
  const scanner = createPacketScanner(20_000)
  t.same(scanner.feed(publish(100)), { kind: 'ok' })
  // Only the fixed header and a few bytes of the big packet have arrived.
  const verdict = scanner.feed(big.subarray(0, 6))
  t.equal(verdict.kind, 'oversized')
  t.equal(verdict.kind === 'oversized' && verdict.length, big.length - 4, 'remaining length = packet minus its 1+3 header bytes')
})

t.test('a length split across chunks is still read right', async (t) => {
  const scanner = createPacketScanner(1_000_000)
  // 0x30 = PUBLISH; remaining length 2,097,152 = 0x80 0x80 0x80 0x01.
  t.same(scanner.feed(Buffer.from([0x30, 0x80, 0x80])), { kind: 'ok' })
  t.same(scanner.feed(Buffer.from([0x80, 0x01])), { kind: 'oversized', length: 2_097_152 })
})

t.test('more than four length bytes is malformed [MQTT-2.2.3]', async (t) => {
  const scanner = createPacketScanner(1_000_000_000)
  t.same(scanner.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), { kind: 'malformed' })
})
