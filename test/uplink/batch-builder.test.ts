import t from 'tap'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import type { StoredEvent } from '../../src/spool/types.js'
import { batchEventBytes, batchOverheadBytes, compileBatchTopic, createBatchBuilder } from '../../src/uplink/batch-builder.js'
import { decodeBatch, encodeBatch } from '../../src/wire/batch-codec.js'

/** Batch packets: topic, properties, and the size bound the forwarder packs by. */

const event = (seq: number, over: Partial<StoredEvent> = {}): StoredEvent => ({
  seq, id: `gw-1-${seq}`, clientId: 'dév-1', topic: 'sensors/température', payload: Buffer.from([seq, 0xff]),
  qos: 1, retain: seq % 2 === 0, acceptedAt: 1_700_000_000_000 + seq, ...over,
})

t.test('batch topic: {gatewayId} only, a valid topic name', async (t) => {
  t.equal(compileBatchTopic('outpost/{gatewayId}/batch', 'gw-7'), 'outpost/gw-7/batch')
  t.equal(compileBatchTopic('fixed', 'gw'), 'fixed')
  for (const bad of ['outpost/{topic}/batch', 'a/{clientId}', 'a/#', 'a/+/b', '{gatewayId']) {
    try {
      compileBatchTopic(bad, 'gw')
      t.fail(`${bad} accepted`)
    } catch (err) {
      t.ok(isOutpostError(err) && err.code === ErrorCodes.UPLINK_TOPIC_TEMPLATE, bad)
      t.match((err as Error).message, /^upstream\.batch\.topic '/)
    }
  }
})

t.test('MQTT 5 batch: content type, outpost-batch, outpost-count; the events decode as sent', async (t) => {
  const build = createBatchBuilder({ gatewayId: 'gw', topic: 'outpost/gw/batch', protocolVersion: 5 })
  const events = [event(1, { meta: { 'device-type': 'thermo' } }), event(2), event(3)]
  const packet = build(events, [true, false, false])
  t.equal(packet.topic, 'outpost/gw/batch')
  t.same(packet.opts, {
    qos: 1, retain: false,
    properties: { contentType: 'application/vnd.outpost.batch+cbor', userProperties: { 'outpost-batch': '1', 'outpost-count': '3' } },
  })
  const decoded = decodeBatch(packet.payload)
  t.equal(decoded.gatewayId, 'gw')
  t.same(decoded.events.map((e) => [e.id, e.clientId, e.topic, e.acceptedAt, e.qos, e.retain, Buffer.from(e.payload), e.meta, e.historical]), [
    ['gw-1-1', 'dév-1', 'sensors/température', 1_700_000_000_001, 1, false, Buffer.from([1, 0xff]), { 'device-type': 'thermo' }, true],
    ['gw-1-2', 'dév-1', 'sensors/température', 1_700_000_000_002, 1, true, Buffer.from([2, 0xff]), undefined, false],
    ['gw-1-3', 'dév-1', 'sensors/température', 1_700_000_000_003, 1, false, Buffer.from([3, 0xff]), undefined, false],
  ])
})

t.test('MQTT 3.1.1 batch: no properties', async (t) => {
  const build = createBatchBuilder({ gatewayId: 'gw', topic: 't', protocolVersion: 4 })
  t.same(build([event(1)], [false]).opts, { qos: 1, retain: false })
})

t.test('the size bound is an upper bound of the encoded batch', async (t) => {
  const build = createBatchBuilder({ gatewayId: 'gateway-long-name', topic: 't', protocolVersion: 5 })
  const shapes: StoredEvent[][] = [
    [event(1)],
    Array.from({ length: 50 }, (_, i) => event(i, { payload: Buffer.alloc(i * 37, 1) })),
    Array.from({ length: 20 }, (_, i) => event(i, { payload: Buffer.alloc(70_000), meta: { a: 'x'.repeat(300), 'b-c': 'ü' } })),
  ]
  for (const events of shapes) {
    const bound = batchOverheadBytes('gateway-long-name') + events.reduce((n, e) => n + batchEventBytes(e), 0)
    const size = build(events, events.map(() => true)).payload.byteLength
    t.ok(size <= bound, `${events.length} events: ${size} <= ${bound}`)
    t.ok(bound - size < 64 + events.length * 48, 'and not far above it')
  }
})

t.test('the same bytes as the codec (cbor-x) writes, for every shape of event', async (t) => {
  const long = 'x'.repeat(300)
  const events: StoredEvent[] = [
    event(1),
    event(2, { id: 'gw-1-2', clientId: '', topic: 'a', payload: Buffer.alloc(0), qos: 0 }),
    event(3, { clientId: 'c'.repeat(23), topic: 't'.repeat(24), payload: Buffer.alloc(255, 7), qos: 2 }),
    event(4, { clientId: 'c'.repeat(48), topic: 't'.repeat(49), payload: Buffer.alloc(256, 8), acceptedAt: 5 }),
    event(5, { topic: long, payload: Buffer.alloc(70_000, 9), acceptedAt: 2 ** 40 + 3 }),
    event(6, { clientId: 'ü'.repeat(30), topic: '😀/€', meta: { a: 'b', 'device-type': 'thermo', long, 'x-ü': 'ÿ' } }),
    event(7, { meta: {} }),
    event(8, { payload: new Uint8Array([1, 2, 3]) }),
  ]
  const build = createBatchBuilder({ gatewayId: 'gateway-ü', topic: 't', protocolVersion: 5 })
  const historical = events.map((_, i) => i % 3 === 0)
  const expected = encodeBatch('gateway-ü', events.map((e, i) => ({
    id: e.id, clientId: e.clientId, topic: e.topic, acceptedAt: e.acceptedAt, qos: e.qos, retain: e.retain,
    payload: e.payload, historical: historical[i]!, ...(e.meta === undefined ? {} : { meta: e.meta }),
  })))
  t.ok(build(events, historical).payload.equals(expected), 'mixed events: same bytes')
  // Row counts that need a one-byte and a two-byte array length.
  for (const n of [23, 24, 255, 256, 600]) {
    const many = Array.from({ length: n }, (_, i) => event(i))
    const flags = many.map(() => false)
    const want = encodeBatch('gw', many.map((e) => ({
      id: e.id, clientId: e.clientId, topic: e.topic, acceptedAt: e.acceptedAt, qos: e.qos, retain: e.retain, payload: e.payload, historical: false,
    })))
    t.ok(createBatchBuilder({ gatewayId: 'gw', topic: 't', protocolVersion: 4 })(many, flags).payload.equals(want), `${n} events: same bytes`)
  }
})
