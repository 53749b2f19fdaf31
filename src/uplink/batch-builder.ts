import type { IClientPublishOptions } from 'mqtt'
import type { StoredEvent } from '../spool/types.js'
import { BATCH_CONTENT_TYPE, BATCH_MARKER, BATCH_VERSION } from '../wire/batch-codec.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import type { OutgoingPacket } from './packet-builder.js'
import { topicNameProblem } from './topic-template.js'

/**
 * Batched mode (`upstream.batch`): many events in one upstream message, in
 * the CBOR format of docs/batch-format.md (codec: src/wire/batch-codec.ts).
 * Pure: no client, no I/O.
 *
 * - Topic: `upstream.batch.topic` with {gatewayId} substituted; per-event
 *   upstream topics (device contracts) do not apply: the device topic travels
 *   inside the batch.
 * - MQTT 5: content type application/vnd.outpost.batch+cbor, user properties
 *   `outpost-batch: 1` and `outpost-count: <n>`. QoS 1, retain off.
 *
 * The CBOR is written here field by field into one buffer: the same bytes as
 * src/wire/batch-codec.ts's encodeBatch (cbor-x) gives (test/uplink/
 * batch-builder.test.ts compares them), without an array, object or bigint
 * per event, and without copying cbor-x's output. Decoding stays with the codec.
 */

export type BatchBuilder = (events: readonly StoredEvent[], historical: readonly boolean[]) => OutgoingPacket

const PLAIN_V4: IClientPublishOptions = Object.freeze({ qos: 1, retain: false })

/** Throws OUTPOST_UPLINK_TOPIC_TEMPLATE when the batch topic is not a valid topic name. */
export function compileBatchTopic(template: string, gatewayId: string): string {
  const topic = template.replaceAll('{gatewayId}', gatewayId)
  const problem = /[{}]/.test(topic) ? 'may hold no placeholder but {gatewayId}' : topicNameProblem(topic)
  if (problem !== null) {
    throw new OutpostError(ErrorCodes.UPLINK_TOPIC_TEMPLATE, `upstream.batch.topic '${template}' ${problem}`)
  }
  return topic
}

export function createBatchBuilder(opts: { gatewayId: string; topic: string; protocolVersion: 4 | 5 }): BatchBuilder {
  const { gatewayId, topic } = opts
  // Tag 55799, array(4), "outpost-batch", version, gatewayId: the same for every batch.
  const head = new CborWriter(64 + Buffer.byteLength(gatewayId) * 3)
  head.bytes([0xd9, 0xd9, 0xf7, 0x84])
  head.text(BATCH_MARKER)
  head.uint(BATCH_VERSION)
  head.text(gatewayId)
  const prefix = Buffer.from(head.done())
  return (events, historical) => {
    let bound = prefix.length + 5
    for (const e of events) bound += eventBound(e)
    const w = new CborWriter(bound)
    const buf = w.buf
    w.bytes(prefix)
    w.head(0x80, events.length)
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      buf[w.at++] = 0x89 // array(9)
      w.text(e.id)
      w.text(e.clientId)
      w.text(e.topic)
      w.uint64(e.acceptedAt)
      w.uint(e.qos)
      buf[w.at++] = e.retain ? 0xf5 : 0xf4
      w.byteString(e.payload)
      const meta = e.meta
      if (meta === undefined) {
        buf[w.at++] = 0xf6 // null
      } else {
        const keys = Object.keys(meta)
        // A map with a two-byte length, as cbor-x writes objects.
        buf[w.at++] = 0xb9
        buf[w.at++] = keys.length >> 8
        buf[w.at++] = keys.length & 0xff
        for (const key of keys) {
          w.text(key)
          w.text(meta[key]!)
        }
      }
      buf[w.at++] = historical[i] === true ? 0xf5 : 0xf4
    }
    const payload = w.done()
    if (opts.protocolVersion === 4) return { topic, payload, opts: PLAIN_V4 }
    return {
      topic,
      payload,
      opts: {
        qos: 1,
        retain: false,
        properties: {
          contentType: BATCH_CONTENT_TYPE,
          userProperties: { 'outpost-batch': '1', 'outpost-count': String(events.length) },
        },
      },
    }
  }
}

/** Most bytes one event can take in the writer, without a native call: UTF-8 is at most 3 bytes per UTF-16 unit. */
function eventBound(e: StoredEvent): number {
  let n = 1 + 5 + e.id.length * 3 + 5 + e.clientId.length * 3 + 5 + e.topic.length * 3 + 9 + 1 + 1 + 5 + e.payload.byteLength + 1
  if (e.meta !== undefined) {
    n += 3
    for (const key in e.meta) n += 10 + key.length * 3 + e.meta[key]!.length * 3
  }
  return n
}

/** Strings up to this many UTF-16 units are measured and copied in JS when they are ASCII. */
const SHORT = 48

/** UTF-8 length; short ASCII strings (nearly all client ids and topics) without a native call. */
function utf8Bytes(s: string): number {
  if (s.length > SHORT) return Buffer.byteLength(s)
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s)
  return s.length
}

/** CBOR into one buffer of a known upper bound. */
class CborWriter {
  readonly buf: Buffer
  at = 0
  constructor(bound: number) {
    this.buf = Buffer.allocUnsafe(bound)
  }

  bytes(b: Uint8Array | number[]): void {
    this.buf.set(b, this.at)
    this.at += b.length
  }

  /** A major type's header with the shortest argument. */
  head(major: number, n: number): void {
    const buf = this.buf
    if (n < 24) {
      buf[this.at++] = major | n
    } else if (n < 0x100) {
      buf[this.at++] = major | 24
      buf[this.at++] = n
    } else if (n < 0x10000) {
      buf[this.at++] = major | 25
      buf[this.at++] = n >> 8
      buf[this.at++] = n & 0xff
    } else {
      buf[this.at++] = major | 26
      this.at = buf.writeUInt32BE(n, this.at)
    }
  }

  uint(n: number): void {
    this.head(0x00, n)
  }

  /** An unsigned integer, always in the 8-byte form (what cbor-x writes for a bigint). */
  uint64(n: number): void {
    const hi = Math.floor(n / 0x100000000)
    const lo = n >>> 0
    const buf = this.buf
    const at = this.at
    buf[at] = 0x1b
    buf[at + 1] = hi >>> 24
    buf[at + 2] = (hi >>> 16) & 0xff
    buf[at + 3] = (hi >>> 8) & 0xff
    buf[at + 4] = hi & 0xff
    buf[at + 5] = lo >>> 24
    buf[at + 6] = (lo >>> 16) & 0xff
    buf[at + 7] = (lo >>> 8) & 0xff
    buf[at + 8] = lo & 0xff
    this.at = at + 9
  }

  text(s: string): void {
    const buf = this.buf
    const n = s.length
    if (n <= SHORT) {
      let ascii = true
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) > 0x7f) {
          ascii = false
          break
        }
      }
      if (ascii) {
        this.head(0x60, n)
        const at = this.at
        for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i)
        this.at = at + n
        return
      }
    }
    this.head(0x60, Buffer.byteLength(s))
    this.at += buf.write(s, this.at, 'utf8')
  }

  byteString(b: Uint8Array): void {
    this.head(0x40, b.byteLength)
    this.buf.set(b, this.at)
    this.at += b.byteLength
  }

  /** The bytes written: a view on the buffer, which is not written again. */
  done(): Buffer {
    return this.buf.subarray(0, this.at)
  }
}

/** Fixed bytes of a batch besides its events: tag, array headers, marker, version, gateway id. */
export function batchOverheadBytes(gatewayId: string): number {
  return 3 + 1 + 14 + 1 + 3 + Buffer.byteLength(gatewayId) + 5
}

/**
 * An upper bound of the CBOR bytes one event adds to a batch: the strings and
 * payload plus at most 5 header bytes per item, 9 for acceptedAt.
 */
export function batchEventBytes(e: StoredEvent): number {
  let n = 1 + 5 + e.id.length + 5 + utf8Bytes(e.clientId) + 5 + utf8Bytes(e.topic) + 9 + 1 + 1 +
    5 + e.payload.byteLength + 1 + 1
  if (e.meta !== undefined) {
    n += 5
    for (const key in e.meta) n += 10 + utf8Bytes(key) + utf8Bytes(e.meta[key]!)
  }
  return n
}
