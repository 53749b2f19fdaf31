import { decode, encode } from 'cbor-x'
import type { StoredEvent } from './types.js'

/**
 * A record on disk is a CBOR array, not a map: field names are not repeated in
 * every record. Position is the schema; version 1 is
 * [1, id, clientId, topic, payload, qos, retain, acceptedAt, attempts]
 * with an optional tenth element, a map of string metadata (or null), and an
 * optional eleventh, the upstream topic chosen at ingest. The sequence number is the key, not part of the value.
 */
const VERSION = 1

export function encodeRecord(e: StoredEvent): Uint8Array {
  const fields: unknown[] = [VERSION, e.id, e.clientId, e.topic, e.payload, e.qos, e.retain, e.acceptedAt, e.attempts ?? 0]
  if (e.meta !== undefined || e.upstreamTopic !== undefined) fields.push(e.meta ?? null)
  if (e.upstreamTopic !== undefined) fields.push(e.upstreamTopic)
  const bytes = encode(fields)
  // cbor-x returns a view into a shared buffer: copy before keeping it.
  return Uint8Array.prototype.slice.call(bytes)
}

export class RecordDecodeError extends Error {}

export function decodeRecord(seq: number, bytes: Uint8Array): StoredEvent {
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
