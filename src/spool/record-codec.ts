import { decode, encode } from 'cbor-x'
import { CborWriter } from '../wire/cbor-writer.js'
import { readRecord } from './record-reader.js'
import type { StoredEvent } from './types.js'

/**
 * A record on disk is a CBOR array, not a map: field names are not repeated in
 * every record. Position is the schema; version 1 is
 * [1, id, clientId, topic, payload, qos, retain, acceptedAt, attempts]
 * with an optional tenth element, a map of string metadata (or null), and an
 * optional eleventh, the upstream topic chosen at ingest. The sequence number is the key, not part of the value.
 */
const VERSION = 1

/**
 * Written field by field (wire/cbor-writer.ts), the same bytes cbor-x gives for
 * the array (test/spool/record-codec.test.ts compares them): no array per
 * record for cbor-x and no copy of its shared output buffer. acceptedAt is a
 * float64 as cbor-x writes it, so decode gives a number.
 */
export function encodeRecord(e: StoredEvent): Uint8Array {
  const w = new CborWriter(recordBound(e))
  writeRecord(w, e)
  return w.done()
}

/** At least the bytes encodeRecord writes for this record. */
export function recordBound(e: StoredEvent): number {
  let bound = 1 + 1 + 5 + e.id.length * 3 + 5 + e.clientId.length * 3 + 5 + e.topic.length * 3 + 5 + e.payload.byteLength + 1 + 1 + 9 + 9 + 1
  if (e.meta !== undefined) for (const key in e.meta) bound += 10 + key.length * 3 + e.meta[key]!.length * 3
  if (e.upstreamTopic !== undefined) bound += 5 + e.upstreamTopic.length * 3
  return bound + 4
}

/**
 * encodeRecord's bytes written into `buf` from `at`, which has room for
 * recordBound(e) bytes; returns the offset after them. For the spool's put
 * slab (put-slab.ts): no buffer per record.
 */
export function encodeRecordInto(e: StoredEvent, buf: Buffer, at: number): number {
  const w = new CborWriter(0, buf, at)
  writeRecord(w, e)
  return w.at
}

function writeRecord(w: CborWriter, e: StoredEvent): void {
  const extra = e.upstreamTopic !== undefined ? 2 : e.meta !== undefined ? 1 : 0
  const buf = w.buf
  buf[w.at++] = 0x80 | (9 + extra)
  w.uint(VERSION)
  w.text(e.id)
  w.text(e.clientId)
  w.text(e.topic)
  w.byteString(e.payload)
  w.uint(e.qos)
  buf[w.at++] = e.retain ? 0xf5 : 0xf4
  const t = e.acceptedAt
  if (Number.isInteger(t) && t >= 0 && t <= 0xffffffff) w.uint(t)
  else w.float64(t)
  w.uint(e.attempts ?? 0)
  if (extra > 0) {
    if (e.meta === undefined) buf[w.at++] = 0xf6
    else w.stringMap(e.meta)
  }
  if (e.upstreamTopic !== undefined) w.text(e.upstreamTopic)
}

export class RecordDecodeError extends Error {}

/**
 * The record as encodeRecord wrote it, read by record-reader.ts; any other
 * encoding (another CBOR writer's forms, damage) through cbor-x and a check of
 * every field, which throws RecordDecodeError for what is not a record.
 */
export function decodeRecord(seq: number, bytes: Uint8Array): StoredEvent {
  return readRecord(seq, bytes) ?? decodeGeneric(seq, bytes)
}

/** The cbor-x path: exported for tests that compare the two. */
export function decodeGeneric(seq: number, bytes: Uint8Array): StoredEvent {
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new RecordDecodeError(`record ${seq}: not valid CBOR`, { cause: err })
  }
  if (!Array.isArray(v) || v[0] !== VERSION || v.length < 9 || v.length > 11) {
    throw new RecordDecodeError(`record ${seq}: unknown record layout`)
  }
  const [, id, clientId, topic, payload, qos, retain, acceptedAt, attempts, meta, upstreamTopic] = v as unknown[]
  if (typeof id !== 'string' || typeof clientId !== 'string' || typeof topic !== 'string' ||
    !(payload instanceof Uint8Array) || (qos !== 0 && qos !== 1 && qos !== 2) ||
    typeof retain !== 'boolean' || typeof acceptedAt !== 'number' || typeof attempts !== 'number') {
    throw new RecordDecodeError(`record ${seq}: field of the wrong type`)
  }
  const event: StoredEvent = { seq, id, clientId, topic, payload, qos, retain, acceptedAt }
  if (attempts > 0) event.attempts = attempts
  if (meta !== undefined && meta !== null) {
    if (!isStringMap(meta)) throw new RecordDecodeError(`record ${seq}: metadata is not a map of strings`)
    event.meta = meta
  }
  if (upstreamTopic !== undefined) {
    if (typeof upstreamTopic !== 'string') throw new RecordDecodeError(`record ${seq}: upstream topic is not a string`)
    event.upstreamTopic = upstreamTopic
  }
  return event
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    Object.values(v).every((x) => typeof x === 'string')
}

/** Small side values (meta, dedup, rejected) are plain CBOR. */
export function encodeValue(v: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(encode(v))
}

export function decodeValue(bytes: Uint8Array): unknown {
  return decode(bytes)
}
