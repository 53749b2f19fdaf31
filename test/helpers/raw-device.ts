import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'

/**
 * A device written at the packet level (MQTT 3.1.1), for faults MQTT.js
 * would not commit on purpose: hanging up between PUBLISH and PUBREC, between
 * PUBREC and PUBREL, or between PUBREL and PUBCOMP of a QoS 2 exchange.
 */
export interface RawDevice {
  send(packet: Packet): Promise<void>
  /** The next received packet of that command (and message id, when given). */
  next(cmd: Packet['cmd'], messageId?: number, timeoutMs?: number): Promise<Packet>
  /** Destroy the socket at once (no DISCONNECT). */
  drop(): void
  readonly closed: boolean
}

export async function rawDevice(port: number, clientId: string, clean = false): Promise<RawDevice> {
  const socket: Socket = connect({ port, host: '127.0.0.1' })
  socket.setNoDelay(true)
  socket.on('error', () => { /* dropped on purpose or by the gateway */ })
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const inbox: Packet[] = []
  const waiters = new Set<() => void>()
  let closed = false
  parser.on('packet', (p: Packet) => { inbox.push(p); for (const w of waiters) w() })
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.on('close', () => { closed = true; for (const w of waiters) w() })
  await once(socket, 'connect')

  const send = (packet: Packet): Promise<void> => new Promise((resolve, reject) => {
    socket.write(mqttPacket.generate(packet, { protocolVersion: 4 }), (err) => err ? reject(err) : resolve())
  })

  const next = (cmd: Packet['cmd'], messageId?: number, timeoutMs = 30_000): Promise<Packet> => new Promise((resolve, reject) => {
    const check = (): void => {
      const i = inbox.findIndex((p) => p.cmd === cmd && (messageId === undefined || (p as { messageId?: number }).messageId === messageId))
      if (i >= 0) {
        waiters.delete(check)
        clearTimeout(timer)
        resolve(inbox.splice(i, 1)[0]!)
      } else if (closed) {
        waiters.delete(check)
        clearTimeout(timer)
        reject(new Error(`${clientId}: connection closed while waiting for ${cmd} ${messageId ?? ''}`))
      }
    }
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`${clientId}: no ${cmd} ${messageId ?? ''} within ${timeoutMs} ms`)) }, timeoutMs)
    waiters.add(check)
    check()
  })

  await send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 60 })
  const connack = await next('connack') as { returnCode?: number }
  if (connack.returnCode !== 0) throw new Error(`${clientId}: CONNACK ${connack.returnCode}`)

  return {
    send,
    next,
    drop() { socket.destroy() },
    get closed() { return closed },
  }
}
