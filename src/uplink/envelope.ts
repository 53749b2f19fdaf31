import type { StoredEvent } from '../spool/types.js'
import type { UplinkOptions } from './types.js'

/**
 * The JSON envelope that carries an event's identity over MQTT 3.1.1, which
 * has no user properties. Format: docs/envelope.md.
 */

export type EnvelopeMode = 'none' | 'json'

/** 'auto' means json on 3.1.1 (the only way an id travels) and none on MQTT 5. */
export function resolveEnvelope(mode: UplinkOptions['envelope'], protocolVersion: 4 | 5): EnvelopeMode {
  if (mode === 'auto') return protocolVersion === 4 ? 'json' : 'none'
  return mode
}

export interface Envelope {
  id: string
  clientId: string
  topic: string
  acceptedAt: number
  qos: 0 | 1 | 2
  retain: boolean
  /** Payload bytes, base64 (RFC 4648, with padding). */
  payload: string
  /** The event's string metadata; absent when it has none. */
  meta?: Record<string, string>
  /** True when the event waited in the backlog longer than upstream.historicalAfterMs; absent otherwise. */
  historical?: true
}

export function encodeEnvelope(event: StoredEvent, historical = false): Buffer {
  const envelope: Envelope = {
    id: event.id,
    clientId: event.clientId,
    topic: event.topic,
    acceptedAt: event.acceptedAt,
    qos: event.qos,
    retain: event.retain,
    payload: asBuffer(event.payload).toString('base64'),
  }
  if (event.meta !== undefined) envelope.meta = { ...event.meta }
  if (historical) envelope.historical = true
  return Buffer.from(JSON.stringify(envelope))
}

export function decodeEnvelope(bytes: Uint8Array): Envelope & { bytes: Buffer } {
  const parsed = JSON.parse(asBuffer(bytes).toString('utf8')) as Envelope
  return { ...parsed, bytes: Buffer.from(parsed.payload, 'base64') }
}

/** A Buffer view on the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
