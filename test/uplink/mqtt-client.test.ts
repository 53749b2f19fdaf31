import { createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectMqtt } from '../../src/uplink/mqtt-client.js'
import type { ClientHandlers, UplinkClient } from '../../src/uplink/types.js'

/**
 * The uplink's MQTT connection against a scripted server that answers the way
 * brokers do under load: many PUBACKs in one TCP write, split across writes,
 * with MQTT 5 reason codes and properties, PINGRESPs and a DISCONNECT in
 * between. PUBACKs are taken before MQTT.js parses them (puback-splitter.ts);
 * everything else must still reach MQTT.js.
 */

interface Server5 {
  url: string
  publishes: IPublishPacket[]
  pingreqs: number
  /** The last connection's socket. */
  socket: Socket | null
  send(packets: Packet[], cutAt?: number): void
  close(): Promise<void>
}

async function scriptedServer(protocolVersion: 4 | 5, onPublish?: (p: IPublishPacket, s: Server5) => void): Promise<Server5> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    s.socket = socket
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') s.send([{ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }])
      if (packet.cmd === 'pingreq') {
        s.pingreqs++
        s.send([{ cmd: 'pingresp' }])
      }
      if (packet.cmd === 'publish') {
        s.publishes.push(packet)
        onPublish?.(packet, s)
      }
    })
    socket.on('data', (d) => parser.parse(d))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const s: Server5 = {
    url: `mqtt://127.0.0.1:${port}`,
    publishes: [],
    pingreqs: 0,
    socket: null,
    send(packets, cutAt) {
      const bytes = Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion })))
      const socket = s.socket
      if (socket === null || socket.destroyed) return
      if (cutAt === undefined) {
        socket.write(bytes)
      } else {
        // Two TCP writes, the second a little later: the cut falls inside a packet.
        socket.write(bytes.subarray(0, cutAt))
        setTimeout(() => { if (!socket.destroyed) socket.write(bytes.subarray(cutAt)) }, 20)
      }
    },
    async close() {
      for (const sock of sockets) sock.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return s
}

interface Events { connected: boolean; closed: boolean; errors: Error[]; disconnects: Packet[] }

function open(url: string, protocolVersion: 4 | 5, keepalive = 30): { client: UplinkClient; events: Events; connected: Promise<void> } {
  const events: Events = { connected: false, closed: false, errors: [], disconnects: [] }
  let resolve!: () => void
  const connected = new Promise<void>((r) => { resolve = r })
  const handlers: ClientHandlers = {
    onConnect: () => { events.connected = true; resolve() },
    onClose: () => { events.closed = true },
    onError: (err) => { events.errors.push(err) },
    onDisconnect: (packet) => { events.disconnects.push(packet) },
  }
  const client = connectMqtt(url, { protocolVersion, clientId: 'test-uplink', keepalive, reconnectPeriod: 0, clean: true }, handlers)
  return { client, events, connected }
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not met within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

type Outcome = { ok: true } | { ok: false; code: number | undefined; message: string }

t.test('MQTT 5: coalesced and split PUBACKs with reason codes; PINGRESP and DISCONNECT still reach MQTT.js', async (t) => {
  const server = await scriptedServer(5)
  t.teardown(() => server.close())
  const { client, events, connected } = open(server.url, 5)
  t.teardown(() => client.destroy())
  await connected

  const outcomes = new Map<string, Outcome>()
  const topics = ['a/0', 'a/1', 'a/2', 'a/3', 'a/4']
  for (const [i, topic] of topics.entries()) {
    client.publish(topic, Buffer.from(`p${i}`), {
      qos: 1, properties: { userProperties: { 'outpost-id': `gw-1-${i}`, 'outpost-client': 'dév' } },
    }, (err) => {
      outcomes.set(topic, err == null ? { ok: true } : { ok: false, code: (err as Error & { code?: number }).code, message: err.message })
    })
  }
  await until(() => server.publishes.length === 5, 'five publishes at the server')
  const ids = server.publishes.map((p) => p.messageId!)
  t.same(server.publishes.map((p) => p.topic), topics, 'publishes arrive in order')
  t.same(server.publishes.map((p) => p.properties?.userProperties?.['outpost-id']), ['gw-1-0', 'gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-4'])
  t.same(server.publishes.map((p) => p.payload.toString()), ['p0', 'p1', 'p2', 'p3', 'p4'])
  t.equal(new Set(ids).size, 5, 'distinct packet ids')

  // One write: success, "no matching subscribers", a PINGRESP in between, a
  // refusal with a reason string; the next write cut inside the last PUBACK.
  server.send([
    { cmd: 'puback', messageId: ids[0], reasonCode: 0 },
    { cmd: 'puback', messageId: ids[1], reasonCode: 0x10 },
    { cmd: 'pingresp' },
    { cmd: 'puback', messageId: ids[2], reasonCode: 0x97, properties: { reasonString: 'quota exceeded' } },
    { cmd: 'puback', messageId: 9999, reasonCode: 0 }, // unknown id: ignored
    { cmd: 'puback', messageId: ids[3], reasonCode: 0 },
  ])
  server.send([{ cmd: 'puback', messageId: ids[4], reasonCode: 0x87 }], 3)
  await until(() => outcomes.size === 5, 'five publish callbacks')
  t.same(outcomes.get('a/0'), { ok: true })
  t.same(outcomes.get('a/1'), { ok: true }, '0x10 is a success')
  t.match(outcomes.get('a/2'), { ok: false, code: 0x97 })
  t.same(outcomes.get('a/3'), { ok: true })
  t.match(outcomes.get('a/4'), { ok: false, code: 0x87 }, 'a PUBACK cut across two writes')

  // MQTT.js still owns the session: a server DISCONNECT comes through.
  server.send([{ cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'session taken over' } }])
  await until(() => events.disconnects.length === 1, 'the DISCONNECT reaches the handler')
  t.match(events.disconnects[0], { cmd: 'disconnect', reasonCode: 0x8e })
  t.same(events.errors, [])
})

t.test('MQTT 3.1.1: PUBACKs of a long run, coalesced by the server, answer every publish once', async (t) => {
  const server = await scriptedServer(4)
  t.teardown(() => server.close())
  const { client, events, connected } = open(server.url, 4)
  t.teardown(() => client.destroy())
  await connected
  const answered: number[] = []
  const N = 3000
  for (let i = 0; i < N; i++) {
    client.publish(`t/${i % 7}`, Buffer.alloc(100, i % 256), { qos: 1 }, (err) => {
      if (err != null) t.fail(`publish ${i} failed: ${err.message}`)
      answered.push(i)
    })
  }
  await until(() => server.publishes.length === N, `${N} publishes at the server`)
  t.ok(server.publishes.every((p, i) => p.topic === `t/${i % 7}` && p.payload.length === 100 && (p.payload as Buffer)[0] === i % 256),
    'every publish intact and in order')
  // All PUBACKs in one write, cut at an odd place.
  server.send(server.publishes.map((p) => ({ cmd: 'puback', messageId: p.messageId! }) as Packet), 4 * 1000 + 3)
  await until(() => answered.length === N, 'every publish answered')
  t.same(answered, Array.from({ length: N }, (_, i) => i), 'each callback once, in order')
  t.same(events.errors, [])
})

t.test('keepalive stays with MQTT.js: PINGREQ goes out and its PINGRESP is handled while PUBACKs flow', async (t) => {
  const server = await scriptedServer(5, (p, s) => s.send([{ cmd: 'puback', messageId: p.messageId!, reasonCode: 0 }]))
  t.teardown(() => server.close())
  const { client, events, connected } = open(server.url, 5, 1)
  t.teardown(() => client.destroy())
  await connected
  let answered = 0
  const deadline = Date.now() + 60_000
  // Publish until MQTT.js has sent two PINGREQs (keepalive 1 s: one every ~1 s).
  while (server.pingreqs < 2 && Date.now() < deadline) {
    client.publish('k', Buffer.from('x'), { qos: 1 }, (err) => { if (err == null) answered++ })
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(server.pingreqs >= 2, `${server.pingreqs} PINGREQs`)
  t.ok(answered > 0, `${answered} publishes answered meanwhile`)
  t.notOk(events.closed, 'the connection is still open')
  t.same(events.errors.map((e) => e.message), [], 'no keepalive timeout')
})

t.test('end() waits for the last PUBACK, then DISCONNECT', async (t) => {
  let disconnects = 0
  const server = await scriptedServer(5)
  t.teardown(() => server.close())
  const { client, events, connected } = open(server.url, 5)
  await connected
  let acked = false
  client.publish('e', Buffer.from('x'), { qos: 1 }, (err) => { acked = err == null })
  await until(() => server.publishes.length === 1, 'the publish at the server')
  server.socket!.on('data', (d) => { if (d.includes(0xe0)) disconnects++ })
  const ended = client.end(10_000)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(disconnects, 0, 'no DISCONNECT while a PUBACK is due')
  server.send([{ cmd: 'puback', messageId: server.publishes[0]!.messageId!, reasonCode: 0 }])
  await ended
  t.ok(acked, 'the publish was answered')
  await until(() => events.closed, 'the connection closed')
  t.equal(disconnects, 1, 'DISCONNECT after the last PUBACK')
})
