import type { IClientPublishOptions } from 'mqtt'

/**
 * QoS 1 PUBLISH packets as bytes, for MQTT 3.1.1 and 5. Pure apart from its
 * caches.
 *
 * The uplink writes these straight to the socket instead of going through
 * MQTT.js's publish(): mqtt-packet writes each field of a packet as its own
 * stream chunk (about ten per PUBLISH, each a writev entry), and MQTT.js keeps
 * its own store and a keepalive timer reset per packet. `PublishEncoder`
 * measures a packet, then writes it into a caller's buffer, so that every
 * packet of one event-loop turn lands in one buffer and one socket write
 * (mqtt-client.ts). Strings that repeat from packet to packet (topics,
 * property names, device ids) are encoded once and copied after that; short
 * ASCII values (event ids, timestamps) are written byte by byte in JS, which
 * beats a native call per string at these lengths.
 *
 * Supported: QoS 1, no DUP, no retain (the uplink never sets it), and of the
 * MQTT 5 properties only user properties and content type (all the uplink
 * sends). Strings are written as UTF-8 with a two-byte length prefix.
 */

const PUBLISH_QOS1 = 0x32
const PROP_CONTENT_TYPE = 0x03
const PROP_USER = 0x26
/** Most distinct strings kept encoded; the cache starts over when it is full. */
const CACHE_MAX = 4096
/** Longer strings are encoded each time, so the cache stays small (at most ~4 MiB). */
const CACHE_LONGEST = 256
/** Values up to this many UTF-16 units are written in JS when they are ASCII. */
const SHORT = 48

export class PublishEncoder {
  readonly protocolVersion: 4 | 5
  /** Length-prefixed UTF-8 of topics, property names and repeated values. */
  private readonly cache = new Map<string, Buffer>()
  /** Property-name entries with their 0x26 identifier in front. */
  private readonly keys = new Map<string, Buffer>()
  // The packet measured last, for write().
  private topic: Buffer = Buffer.alloc(0)
  private payload: Uint8Array = Buffer.alloc(0)
  /** User properties, flat: key entry (with 0x26 and length), value, value's UTF-8 length; repeated. */
  private readonly parts: Array<Buffer | string | number> = []
  /**
   * Entries of `parts` in use: the array is written over, never emptied (V8 gives up an
   * array's storage when its length is set to 0, and the next pushes allocate it again).
   */
  private nParts = 0
  private contentType: Buffer | null = null
  private propsLen = 0
  private remaining = 0

  constructor(protocolVersion: 4 | 5) {
    this.protocolVersion = protocolVersion
  }

  /** The packet's size in bytes; remembers it for the next write(). */
  measure(topic: string, payload: Uint8Array, opts: IClientPublishOptions): number {
    this.topic = this.encoded(topic)
    this.payload = payload
    this.nParts = 0
    this.contentType = null
    let propsLen = 0
    const p = this.protocolVersion === 5 ? opts.properties : undefined
    if (p !== undefined) {
      if (p.contentType !== undefined) {
        this.contentType = this.encoded(p.contentType)
        propsLen += 1 + this.contentType.length
      }
      const user = p.userProperties
      if (user !== undefined) {
        for (const key in user) {
          const entry = this.keyEntry(key)
          const value = user[key]!
          if (typeof value === 'string') propsLen += entry.length + this.addValue(entry, value)
          else for (const v of value) propsLen += entry.length + this.addValue(entry, v)
        }
      }
    }
    this.propsLen = propsLen
    const propsHeader = this.protocolVersion === 5 ? varIntSize(propsLen) + propsLen : 0
    this.remaining = this.topic.length + 2 + propsHeader + payload.byteLength
    return 1 + varIntSize(this.remaining) + this.remaining
  }

  /** Writes the packet measured last at `at`; returns the offset after it. */
  write(buf: Buffer, at: number, messageId: number): number {
    buf[at++] = PUBLISH_QOS1
    at = writeVarInt(buf, at, this.remaining)
    buf.set(this.topic, at)
    at += this.topic.length
    buf[at++] = messageId >> 8
    buf[at++] = messageId & 0xff
    if (this.protocolVersion === 5) {
      at = writeVarInt(buf, at, this.propsLen)
      if (this.contentType !== null) {
        buf[at++] = PROP_CONTENT_TYPE
        buf.set(this.contentType, at)
        at += this.contentType.length
      }
      const parts = this.parts
      for (let i = 0; i < this.nParts; i += 3) {
        const key = parts[i] as Buffer
        buf.set(key, at)
        at += key.length
        const value = parts[i + 1] as string
        const len = parts[i + 2] as number
        buf[at++] = len >> 8
        buf[at++] = len & 0xff
        if (len === value.length && len <= SHORT) {
          for (let j = 0; j < len; j++) buf[at + j] = value.charCodeAt(j)
        } else {
          buf.write(value, at, len, 'utf8')
        }
        at += len
      }
    }
    buf.set(this.payload, at)
    return at + this.payload.byteLength
  }

  /** One packet in a buffer of its own. */
  encode(topic: string, payload: Uint8Array, opts: IClientPublishOptions, messageId: number): Buffer {
    const buf = Buffer.allocUnsafe(this.measure(topic, payload, opts))
    this.write(buf, 0, messageId)
    return buf
  }

  /** Queues one user property value; returns its encoded size with the length prefix. */
  private addValue(entry: Buffer, value: string): number {
    const len = value.length <= SHORT && isAscii(value) ? value.length : Buffer.byteLength(value)
    const parts = this.parts
    const n = this.nParts
    parts[n] = entry
    parts[n + 1] = value
    parts[n + 2] = len
    this.nParts = n + 3
    return 2 + len
  }

  private encoded(s: string): Buffer {
    let b = this.cache.get(s)
    if (b === undefined) {
      const len = Buffer.byteLength(s)
      b = Buffer.allocUnsafe(2 + len)
      b.writeUInt16BE(len, 0)
      b.write(s, 2, len, 'utf8')
      if (s.length <= CACHE_LONGEST) {
        if (this.cache.size >= CACHE_MAX) this.cache.clear()
        this.cache.set(s, b)
      }
    }
    return b
  }

  private keyEntry(key: string): Buffer {
    let b = this.keys.get(key)
    if (b === undefined) {
      const s = this.encoded(key)
      b = Buffer.allocUnsafe(1 + s.length)
      b[0] = PROP_USER
      b.set(s, 1)
      if (key.length <= CACHE_LONGEST) {
        if (this.keys.size >= CACHE_MAX) this.keys.clear()
        this.keys.set(key, b)
      }
    }
    return b
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

const encoders = { 4: new PublishEncoder(4), 5: new PublishEncoder(5) }

/** One QoS 1 PUBLISH packet as a single Buffer. */
export function encodePublish(
  topic: string,
  payload: Uint8Array,
  opts: IClientPublishOptions,
  messageId: number,
  protocolVersion: 4 | 5,
): Buffer {
  return encoders[protocolVersion].encode(topic, payload, opts, messageId)
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
