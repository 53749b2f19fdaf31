import { createServer, type Socket } from 'node:net'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'

/**
 * A scripted MQTT server on 127.0.0.1 (net + mqtt-packet), for behaviour no
 * real broker shows on demand:
 * - `refuse(packet)`: close the connection when a PUBLISH matches, with no
 *   PUBACK and no reason (what some 3.1.1 brokers and proxies do with a
 *   publish they refuse; Mosquitto 2.0 instead acks a denied 3.1.1 publish
 *   and drops it);
 * - `silent = true`: keep every connection open but answer nothing (a black
 *   hole: no CONNACK, no PUBACK, no PINGRESP);
 * - `ackNothing = true`: answer CONNACK and PINGRESP but never PUBACK.
 * Answers CONNACK, PINGRESP and PUBACK otherwise.
 */
export interface FakeUpstream {
  port: number
  url: string
  /** Connections accepted so far. */
  connections: number
  /** Every PUBLISH received, in order (also refused ones). */
  publishes: IPublishPacket[]
  /** PUBLISHes answered with PUBACK. */
  acked: IPublishPacket[]
  pingreqs: number
  refuse: (packet: IPublishPacket) => boolean
  silent: boolean
  ackNothing: boolean
  /** Delay every PUBACK by this much (ms). */
  ackDelayMs: number
  /** DISCONNECT packets received. */
  disconnects: number
  close(): Promise<void>
}

export async function startFakeUpstream(opts: { protocolVersion?: 4 | 5 } = {}): Promise<FakeUpstream> {
  const protocolVersion = opts.protocolVersion ?? 4
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    fake.connections++
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => { /* the client cut it */ })
    const parser = mqttPacket.parser({ protocolVersion })
    const send = (packet: Packet): void => {
      if (!socket.destroyed) socket.write(mqttPacket.generate(packet, { protocolVersion }))
    }
    let closing = false
    parser.on('packet', (packet: Packet) => {
      if (socket.destroyed || closing) return
      if (packet.cmd === 'publish') fake.publishes.push(packet)
      if (packet.cmd === 'pingreq') fake.pingreqs++
      if (fake.silent) return
      switch (packet.cmd) {
        case 'connect':
          send({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false })
          break
        case 'pingreq':
          send({ cmd: 'pingresp' })
          break
        case 'publish':
          if (fake.refuse(packet)) {
            // Flush what was answered before, then close; read nothing more.
            closing = true
            socket.end()
            return
          }
          if (packet.qos === 1 && !fake.ackNothing) {
            const ack = (): void => {
              fake.acked.push(packet)
              send({ cmd: 'puback', messageId: packet.messageId! })
            }
            if (fake.ackDelayMs > 0) setTimeout(ack, fake.ackDelayMs)
            else ack()
          }
          break
        case 'disconnect':
          fake.disconnects++
          socket.end()
          break
        default:
          break
      }
    })
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk) => parser.parse(chunk))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('fake upstream: no port')
  const fake: FakeUpstream = {
    port: address.port,
    url: `mqtt://127.0.0.1:${address.port}`,
    connections: 0,
    publishes: [],
    acked: [],
    pingreqs: 0,
    refuse: () => false,
    silent: false,
    ackNothing: false,
    ackDelayMs: 0,
    disconnects: 0,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return fake
}
