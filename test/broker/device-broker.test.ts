import { connect as netConnect } from 'node:net'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import t, { type Test } from 'tap'
import { startDeviceBroker } from '../../src/broker/device-broker.js'
import { createIngest } from '../../src/broker/ingest.js'
import { createForwardPredicate } from '../../src/broker/topic-filter.js'
import { openSpool, type Spool } from '../../src/spool/spool.js'
import type { SpoolWriter } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

async function setup(t: Test, wrap?: (s: Spool) => SpoolWriter) {
  const cap = captureLog()
  const spool = await openSpool({ dir: t.testdir(), gatewayId: 'gw', log: cap.log })
  const ingest = createIngest({
    spool: wrap ? wrap(spool) : spool, forwards: createForwardPredicate({ include: ['#'], exclude: [] }),
    maxPayloadBytes: 1024, storeQos0: true, log: cap.log,
  })
  const broker = await startDeviceBroker({ host: '127.0.0.1', port: 0, maxClientIdLength: 64, maxPayloadBytes: 1024, authorizePublish: ingest.authorizePublish, log: cap.log })
  const url = `mqtt://127.0.0.1:${broker.address.port}`
  t.teardown(async () => {
    await broker.close()
    await spool.close()
  })
  return { spool, broker, url, ingest, cap }
}


t.test('QoS 1 and 2 events are stored before they are acknowledged', async (t) => {
  const order: string[] = []
  const { spool, url } = await setup(t, (s) => ({
    append: async (input, hint) => {
      await new Promise((r) => setTimeout(r, 50))
      const res = await s.append(input, hint)
      order.push(`stored ${input.topic}`)
      return res
    },
  }))
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'dev-1' })
  await client.publishAsync('sensors/a', 'one', { qos: 1 })
  order.push('puback sensors/a')
  await client.publishAsync('sensors/b', 'two', { qos: 2 })
  order.push('pubcomp sensors/b')
  await client.publishAsync('sensors/c', 'three', { qos: 0 })
  await client.endAsync()
  t.same(order.slice(0, 4), ['stored sensors/a', 'puback sensors/a', 'stored sensors/b', 'pubcomp sensors/b'])
  await new Promise((r) => setTimeout(r, 100))
  const events = await spool.readAfter(-1, 10)
  t.same(events.map((e) => [e.clientId, e.topic, Buffer.from(e.payload).toString(), e.qos]), [
    ['dev-1', 'sensors/a', 'one', 1],
    ['dev-1', 'sensors/b', 'two', 2],
    ['dev-1', 'sensors/c', 'three', 0],
  ])
})

t.test('an event that cannot be stored is not acknowledged', async (t) => {
  let fail = true
  const { spool, url, ingest } = await setup(t, (s) => ({
    append: (input, hint) => fail ? Promise.reject(new Error('disk full')) : s.append(input, hint),
  }))
  const client = mqtt.connect(url, { protocolVersion: 4, clientId: 'dev-2', clean: false, reconnectPeriod: 100 })
  let acked = false
  const published = client.publishAsync('sensors/x', 'kept', { qos: 1 }).then(() => { acked = true })
  await new Promise((r) => setTimeout(r, 300))
  t.notOk(acked, 'no PUBACK while the write fails')
  t.ok(ingest.stats.writeErrors >= 1)
  fail = false
  await published
  t.ok(acked, 'after the store recovers, the re-sent event is acknowledged')
  await client.endAsync()
  const events = await spool.readAfter(-1, 10)
  t.equal(events.length, 1)
  t.equal(Buffer.from(events[0]!.payload).toString(), 'kept')
})

t.test('[MQTT-3.1.3-8] empty client id with clean session off gets CONNACK 0x02', async (t) => {
  const { broker } = await setup(t)
  const raw = await rawClient(broker.address.port)
  // mqtt-packet refuses to generate this packet, so it is written by hand:
  // CONNECT, protocol "MQTT" level 4, flags 0 (clean session off), keepalive 30, client id of length 0.
  raw.socket.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x1e, 0x00, 0x00]))
  const connack = await raw.next('connack') as mqttPacket.IConnackPacket
  t.equal(connack.returnCode, 2, 'identifier rejected')
  await raw.closed
  t.pass('the server closed the connection')
  const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.address.port}`, { protocolVersion: 4, clientId: '', clean: true, reconnectPeriod: 0 })
  t.ok(ok.connected, 'an empty id with clean session is accepted')
  await ok.endAsync()
})

async function rawClient(port: number) {
  const socket = netConnect(port, '127.0.0.1')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const packets: mqttPacket.Packet[] = []
  parser.on('packet', (p) => packets.push(p))
  socket.on('data', (d) => parser.parse(d))
  const closed = new Promise<void>((r) => socket.once('close', () => r()))
  await new Promise((r) => socket.once('connect', r))
  return {
    packets,
    closed,
    socket,
    send: (p: object) => socket.write(mqttPacket.generate(p as mqttPacket.Packet)),
    async next(cmd: string, count = 1) {
      const deadline = Date.now() + 3000
      while (packets.filter((p) => p.cmd === cmd).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      return packets.filter((p) => p.cmd === cmd)[count - 1]
    },
  }
}

t.test('a retransmitted PUBLISH (DUP=1, same id and content) is stored once', async (t) => {
  const { spool, broker } = await setup(t)
  const raw = await rawClient(broker.address.port)
  const send = raw.send
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'raw', clean: false, keepalive: 30 })
  const publish = { cmd: 'publish', topic: 'sensors/raw', payload: Buffer.from('42'), qos: 1, messageId: 77, retain: false, dup: false }
  send(publish)
  send({ ...publish, dup: true })
  send({ ...publish, dup: true })
  send({ ...publish, messageId: 78, payload: Buffer.from('43') })
  t.ok(await raw.next('puback', 4), 'every copy is acknowledged')
  raw.socket.destroy()
  const events = await spool.readAfter(-1, 10)
  t.same(events.map((e) => Buffer.from(e.payload).toString()), ['42', '43'], 'the retransmissions were stored once')
})

t.test('a packet declaring more than the limit closes the connection before it is buffered', async (t) => {
  const { broker, cap, url } = await setup(t)
  const raw = await rawClient(broker.address.port)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'flood', clean: true, keepalive: 30 })
  t.ok(await raw.next('connack'))
  // PUBLISH QoS 1 declaring 10,000,000 bytes (0x80 0xad 0xe2 0x04), then only the start of it.
  raw.socket.write(Buffer.concat([Buffer.from([0x32, 0x80, 0xad, 0xe2, 0x04]), Buffer.alloc(4096)]))
  await raw.closed
  t.pass('the gateway closed the connection')
  const line = cap.lines.find((l) => l.code === 'OUTPOST_BROKER_PAYLOAD_TOO_LARGE')
  t.match(line, { kind: 'oversized', length: 10_000_000 })
  const other = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'fine' })
  await other.publishAsync('sensors/ok', 'still here', { qos: 1 })
  await other.endAsync()
})
