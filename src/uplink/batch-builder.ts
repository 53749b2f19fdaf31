import type { IClientPublishOptions } from 'mqtt'
import type { StoredEvent } from '../spool/types.js'
import { BATCH_CONTENT_TYPE, BATCH_MARKER, BATCH_VERSION } from '../wire/batch-codec.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import type { OutgoingPacket } from './packet-builder.js'
import { topicNameProblem } from './topic-template.js'
import { CborWriter, utf8Bytes } from '../wire/cbor-writer.js'

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
 * An event read from the store with its bytes (`record`, spool readAfter's
 * `raw`) has its id, clientId, topic, payload and metadata items copied from
 * the stored record, which holds them in the same forms: no string is decoded
 * or encoded for it.
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
      const r = e.record
      if (r !== undefined) {
        // The stored items, already in the batch's forms: copied, not decoded and encoded again.
        buf[w.at++] = 0x89
        w.at = copyRange(r.bytes, 2, r.textEnd, buf, w.at)
        w.uint64(e.acceptedAt)
        w.uint(e.qos)
        buf[w.at++] = e.retain ? 0xf5 : 0xf4
        w.at = copyRange(r.bytes, r.payloadAt, r.payloadEnd, buf, w.at)
        if (r.metaAt < 0) buf[w.at++] = 0xf6
        else w.at = copyRange(r.bytes, r.metaAt, r.metaEnd, buf, w.at)
        buf[w.at++] = historical[i] === true ? 0xf5 : 0xf4
        continue
      }
      buf[w.at++] = 0x89 // array(9)
      w.text(e.id)
      w.text(e.clientId)
      w.text(e.topic)
      w.uint64(e.acceptedAt)
      w.uint(e.qos)
      buf[w.at++] = e.retain ? 0xf5 : 0xf4
      w.byteString(e.payload)
      if (e.meta === undefined) buf[w.at++] = 0xf6 // null
      else w.stringMap(e.meta)
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

/**
 * Bytes [from, to) of `src` into `dst` at `at`; returns the end. A view and a native copy cost about
 * 60-70 ns whatever the length, a JS byte loop about 1.5 ns a byte plus its start: the loop only for
 * a few bytes.
 */
function copyRange(src: Uint8Array, from: number, to: number, dst: Buffer, at: number): number {
  const n = to - from
  if (n <= 16) {
    for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!
  } else {
    dst.set(src.subarray(from, to), at)
  }
  return at + n
}

/** Bytes of an event whose stored items are copied: the items, acceptedAt's 9, qos, retain, historical. */
function recordBytes(r: NonNullable<StoredEvent['record']>): number {
  return 1 + (r.textEnd - 2) + 9 + 1 + 1 + (r.payloadEnd - r.payloadAt) + (r.metaAt < 0 ? 1 : r.metaEnd - r.metaAt) + 1
}

/** Most bytes one event can take in the writer, without a native call: UTF-8 is at most 3 bytes per UTF-16 unit. */
function eventBound(e: StoredEvent): number {
  if (e.record !== undefined) return recordBytes(e.record)
  let n = 1 + 5 + e.id.length * 3 + 5 + e.clientId.length * 3 + 5 + e.topic.length * 3 + 9 + 1 + 1 + 5 + e.payload.byteLength + 1
  if (e.meta !== undefined) {
    n += 3
    for (const key in e.meta) n += 10 + key.length * 3 + e.meta[key]!.length * 3
  }
  return n
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
  // A stored record's exact size (a bound too), plus the slack the estimate below has for its array head.
  if (e.record !== undefined) return recordBytes(e.record) + 1
  let n = 1 + 5 + e.id.length + 5 + utf8Bytes(e.clientId) + 5 + utf8Bytes(e.topic) + 9 + 1 + 1 +
    5 + e.payload.byteLength + 1 + 1
  if (e.meta !== undefined) {
    n += 5
    for (const key in e.meta) n += 10 + utf8Bytes(key) + utf8Bytes(e.meta[key]!)
  }
  return n
}
