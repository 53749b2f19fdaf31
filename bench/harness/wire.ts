/**
 * Just enough MQTT 3.1.1 on the wire for a load generator and a subscriber
 * that cost little CPU: CONNECT, PUBLISH (QoS 1), PUBACK, SUBSCRIBE and a
 * stream splitter. Hand-encoded, no options, no validation beyond framing.
 */

export const PacketType = {
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBACK: 9,
  PINGRESP: 13,
} as const

export function remainingLength(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

function utf8Field(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length, 0)
  bytes.copy(out, 2)
  return out
}

/** CONNECT, protocol level 4 (or 5, with no properties), keepalive 0 (no pings needed on loopback). */
export function connectPacket(clientId: string, clean: boolean, level: 4 | 5 = 4): Buffer {
  const body = Buffer.concat([
    utf8Field('MQTT'),
    Buffer.from(level === 5 ? [5, clean ? 0x02 : 0x00, 0, 0, 0] : [4, clean ? 0x02 : 0x00, 0, 0]),
    utf8Field(clientId),
  ])
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body])
}

/**
 * A reusable QoS 1 PUBLISH: the packet id and payload are written in place
 * into one buffer per send (copy of the template), so a publish costs one
 * allocation and no encoder.
 */
export interface PublishTemplate {
  /** A fresh packet buffer with this packet id; `payloadAt` is where the payload starts. */
  make(packetId: number): Buffer
  payloadAt: number
}

export function publishTemplate(topic: string, payloadLength: number): PublishTemplate {
  const t = Buffer.from(topic, 'utf8')
  const rem = 2 + t.length + 2 + payloadLength
  const header = [0x32, ...remainingLength(rem)]
  const template = Buffer.alloc(header.length + rem)
  Buffer.from(header).copy(template, 0)
  template.writeUInt16BE(t.length, header.length)
  t.copy(template, header.length + 2)
  const idAt = header.length + 2 + t.length
  const payloadAt = idAt + 2
  return {
    payloadAt,
    make(packetId) {
      const packet = Buffer.allocUnsafe(template.length)
      template.copy(packet, 0, 0, payloadAt)
      packet.writeUInt16BE(packetId, idAt)
      return packet
    },
  }
}

export function pubackPacket(packetId: number): Buffer {
  return Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff])
}

export function subscribePacket(packetId: number, filter: string, qos: 0 | 1): Buffer {
  const body = Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8Field(filter), Buffer.from([qos])])
  return Buffer.concat([Buffer.from([0x82, ...remainingLength(body.length)]), body])
}

export const DISCONNECT = Buffer.from([0xe0, 0x00])

export interface Packet {
  type: number
  flags: number
  body: Buffer
}

/** Splits a byte stream into MQTT packets; keeps the unfinished tail. */
export class PacketSplitter {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer, onPacket: (p: Packet) => void): void {
    let buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    let at = 0
    for (;;) {
      if (buf.length - at < 2) break
      let len = 0
      let mult = 1
      let i = at + 1
      let complete = false
      for (; i < buf.length && i < at + 5; i++) {
        const b = buf[i]!
        len += (b & 0x7f) * mult
        mult *= 128
        if ((b & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete || buf.length - i < len) break
      const first = buf[at]!
      onPacket({ type: first >> 4, flags: first & 0x0f, body: buf.subarray(i, i + len) })
      at = i + len
    }
    if (at >= buf.length) buf = Buffer.alloc(0)
    else if (at > 0) buf = Buffer.from(buf.subarray(at))
    this.buf = buf
  }
}

/** Topic, packet id (0 for QoS 0) and payload of a PUBLISH body. */
export function parsePublish(p: Packet): { topic: string; packetId: number; payload: Buffer } {
  const topicLen = p.body.readUInt16BE(0)
  const topic = p.body.toString('utf8', 2, 2 + topicLen)
  const qos = (p.flags >> 1) & 0x03
  let at = 2 + topicLen
  let packetId = 0
  if (qos > 0) {
    packetId = p.body.readUInt16BE(at)
    at += 2
  }
  return { topic, packetId, payload: p.body.subarray(at) }
}
