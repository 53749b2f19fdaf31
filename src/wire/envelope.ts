import { ErrorCodes, OutpostError } from '../errors.js'

/**
 * A validating reader for the JSON envelope, format version 1
 * (docs/envelope.md). The gateway writes it on MQTT 3.1.1 upstreams, where
 * user properties do not exist, and on MQTT 5 with `upstream.envelope: json`.
 * This side only reads; the writer is the uplink's.
 */

/** One event as carried by a JSON envelope, payload decoded from base64. */
export interface EnvelopeEvent {
  id: string
  clientId: string
  topic: string
  acceptedAt: number
  qos: 0 | 1 | 2
  retain: boolean
  payload: Buffer
  meta?: Record<string, string>
  /** Present only when the gateway sent the field. */
  historical?: boolean
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * True when the bytes could be a JSON object (first non-blank byte is `{`).
 * Cheap; parseEnvelope decides.
 */
export function looksLikeJsonObject(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue
    return b === 0x7b
  }
  return false
}

/**
 * Parse and validate an envelope. Unknown fields are ignored (later versions
 * may add some); `meta` and `historical` may be absent or null. Throws OutpostError `OUTPOST_ENVELOPE_INVALID` when the bytes
 * are not JSON or a known field has the wrong type.
 */
export function parseEnvelope(bytes: Uint8Array): EnvelopeEvent {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw invalid(`not JSON (${(err as Error).message})`, err)
  }
  return envelopeFromJson(v)
}

/** The validation half of parseEnvelope, for a caller that already parsed the JSON. */
export function envelopeFromJson(v: unknown): EnvelopeEvent {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('not a JSON object')
  const o = v as Record<string, unknown>
  const { id, clientId, topic, acceptedAt, qos, retain, payload, meta, historical } = o
  if (typeof id !== 'string' || id === '') throw invalid('"id" is not a non-empty string')
  if (typeof clientId !== 'string') throw invalid(`${id}: "clientId" is not a string`)
  if (typeof topic !== 'string') throw invalid(`${id}: "topic" is not a string`)
  if (typeof acceptedAt !== 'number' || !Number.isSafeInteger(acceptedAt) || acceptedAt < 0) {
    throw invalid(`${id}: "acceptedAt" is not a whole number of ms`)
  }
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`${id}: "qos" is not 0, 1 or 2`)
  if (typeof retain !== 'boolean') throw invalid(`${id}: "retain" is not a boolean`)
  if (typeof payload !== 'string' || payload.length % 4 !== 0 || !BASE64.test(payload)) {
    throw invalid(`${id}: "payload" is not padded base64`)
  }
  const event: EnvelopeEvent = { id, clientId, topic, acceptedAt, qos, retain, payload: Buffer.from(payload, 'base64') }
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== 'object' || Array.isArray(meta) ||
      !Object.values(meta).every((x) => typeof x === 'string')) {
      throw invalid(`${id}: "meta" is not an object of strings`)
    }
    event.meta = { ...(meta as Record<string, string>) }
  }
  if (historical !== undefined && historical !== null) {
    if (typeof historical !== 'boolean') throw invalid(`${id}: "historical" is not a boolean`)
    event.historical = historical
  }
  return event
}

function invalid(why: string, cause?: unknown): OutpostError {
  return new OutpostError(ErrorCodes.ENVELOPE_INVALID, `invalid outpost envelope: ${why}`, cause === undefined ? undefined : { cause })
}
