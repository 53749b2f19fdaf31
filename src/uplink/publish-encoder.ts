import type { IClientPublishOptions } from 'mqtt'

/**
 * One QoS 1 PUBLISH packet as a single Buffer, for MQTT 3.1.1 and 5. Pure.
 *
 * The uplink writes these straight to the socket instead of going through
 * MQTT.js's publish(): mqtt-packet writes each field of a packet as its own
 * stream chunk (about ten per PUBLISH, each a writev entry), and MQTT.js keeps
 * its own store and a keepalive timer reset per packet. One buffer per packet,
 * corked per tick, is what the profile asked for (docs/bench-core.md).
 *
 * Supported: QoS 1, no DUP, no retain (the uplink never sets it), and of the
 * MQTT 5 properties only user properties and content type (all the uplink
 * sends). Strings are written as UTF-8 with a two-byte length prefix.
 */

const PUBLISH_QOS1 = 0x32
const PROP_CONTENT_TYPE = 0x03
const PROP_USER = 0x26

export function encodePublish(
  topic: string,
  payload: Uint8Array,
  opts: IClientPublishOptions,
  messageId: number,
  protocolVersion: 4 | 5,
): Buffer {
  const topicLen = Buffer.byteLength(topic)
  let propsLen = 0
  let userProps: Record<string, string | string[]> | undefined
  let contentType: string | undefined
  if (protocolVersion === 5) {
    const p = opts.properties
    if (p !== undefined) {
      userProps = p.userProperties
      contentType = p.contentType
      if (contentType !== undefined) propsLen += 3 + Buffer.byteLength(contentType)
      if (userProps !== undefined) {
        for (const key in userProps) {
          const value = userProps[key]!
          const keyLen = Buffer.byteLength(key)
          if (Array.isArray(value)) {
            for (const v of value) propsLen += 5 + keyLen + Buffer.byteLength(v)
          } else {
            propsLen += 5 + keyLen + Buffer.byteLength(value)
          }
        }
      }
    }
  }
  const propsHeader = protocolVersion === 5 ? varIntSize(propsLen) + propsLen : 0
  const remaining = 2 + topicLen + 2 + propsHeader + payload.byteLength
  const total = 1 + varIntSize(remaining) + remaining
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  buf[at++] = PUBLISH_QOS1
  at = writeVarInt(buf, at, remaining)
  at = writeString(buf, at, topic, topicLen)
  buf.writeUInt16BE(messageId, at)
  at += 2
  if (protocolVersion === 5) {
    at = writeVarInt(buf, at, propsLen)
    if (contentType !== undefined) {
      buf[at++] = PROP_CONTENT_TYPE
      at = writeString(buf, at, contentType, Buffer.byteLength(contentType))
    }
    if (userProps !== undefined) {
      for (const key in userProps) {
        const value = userProps[key]!
        for (const v of Array.isArray(value) ? value : [value]) {
          buf[at++] = PROP_USER
          at = writeString(buf, at, key, Buffer.byteLength(key))
          at = writeString(buf, at, v, Buffer.byteLength(v))
        }
      }
    }
  }
  buf.set(payload, at)
  return buf
}

function writeString(buf: Buffer, at: number, s: string, len: number): number {
  buf.writeUInt16BE(len, at)
  if (len > 0) buf.write(s, at + 2, len, 'utf8')
  return at + 2 + len
}

function writeVarInt(buf: Buffer, at: number, n: number): number {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[at++] = byte
  } while (n > 0)
  return at
}

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}
