import { BATCH_CONTENT_TYPE, decodeBatch, isBatch } from '../wire/batch-codec.js'
import { envelopeFromJson, looksLikeJsonObject, parseEnvelope, type EnvelopeEvent } from '../wire/envelope.js'
import type { ConsumedEvent, UpstreamMessage } from './event.js'

/**
 * One upstream MQTT message -> the events it carries, oldest first. Pure.
 *
 * Which format, in this order (docs/consumer.md, "Decoding"):
 * 1. batch: the payload starts like a batch, or the MQTT 5 content type or
 *    `outpost-batch` user property says so. Invalid -> OUTPOST_BATCH_INVALID.
 * 2. envelope: MQTT 5 content type application/json with an `outpost-id`
 *    property (`envelope: json` on MQTT 5; invalid -> OUTPOST_ENVELOPE_INVALID),
 *    or, with no `outpost-id` property, a payload that parses as a JSON
 *    object with string `id` and `payload` fields (MQTT 3.1.1).
 * 3. properties: an `outpost-id` user property.
 * 4. raw: anything else, passed through without an id.
 */
export function decodeUpstreamMessage(message: UpstreamMessage): ConsumedEvent[] {
  const upstreamTopic = message.topic
  const payload = typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload
  const props = message.properties
  const user = props?.userProperties
  if (isBatch(payload) || props?.contentType === BATCH_CONTENT_TYPE || first(user?.['outpost-batch']) !== undefined) {
    return decodeBatch(payload).events.map((e) => {
      const event: ConsumedEvent = {
        id: e.id, clientId: e.clientId, topic: e.topic, upstreamTopic, acceptedAt: e.acceptedAt,
        qos: e.qos, retain: e.retain, payload: e.payload, historical: e.historical, format: 'batch',
      }
      if (e.meta !== undefined) event.meta = { ...e.meta }
      return event
    })
  }
  const propId = first(user?.['outpost-id'])
  if (propId !== undefined && props?.contentType === 'application/json') return [fromEnvelope(parseEnvelope(payload), upstreamTopic)]
  if (propId === undefined && looksLikeJsonObject(payload)) {
    const envelope = tryEnvelope(payload, upstreamTopic)
    if (envelope !== undefined) return [envelope]
  }
  if (propId !== undefined && propId !== '' && user !== undefined) return [fromProperties(propId, user, payload, upstreamTopic)]
  return [{ upstreamTopic, payload, format: 'raw' }]
}

/** User properties the gateway sets itself; every other `outpost-<key>` is metadata. */
const RESERVED = new Set(['outpost-id', 'outpost-client', 'outpost-ts', 'outpost-retain', 'outpost-historical', 'outpost-batch', 'outpost-count'])

function fromProperties(id: string, user: Record<string, string | string[]>, payload: Uint8Array, upstreamTopic: string): ConsumedEvent {
  const event: ConsumedEvent = { id, upstreamTopic, payload, retain: first(user['outpost-retain']) === '1', format: 'properties' }
  const clientId = first(user['outpost-client'])
  if (clientId !== undefined) event.clientId = clientId
  const ts = first(user['outpost-ts'])
  if (ts !== undefined && /^\d{1,16}$/.test(ts) && Number.isSafeInteger(Number(ts))) event.acceptedAt = Number(ts)
  const historical = first(user['outpost-historical'])
  if (historical !== undefined) event.historical = historical === '1' || historical === 'true'
  let meta: Record<string, string> | undefined
  for (const key of Object.keys(user)) {
    if (!key.startsWith('outpost-') || RESERVED.has(key)) continue
    const value = first(user[key])
    if (value === undefined) continue
    meta ??= {}
    meta[key.slice('outpost-'.length)] = value
  }
  if (meta !== undefined) event.meta = meta
  return event
}

function fromEnvelope(e: EnvelopeEvent, upstreamTopic: string): ConsumedEvent {
  const event: ConsumedEvent = {
    id: e.id, clientId: e.clientId, topic: e.topic, upstreamTopic, acceptedAt: e.acceptedAt,
    qos: e.qos, retain: e.retain, payload: e.payload, format: 'envelope',
  }
  if (e.meta !== undefined) event.meta = e.meta
  if (e.historical !== undefined) event.historical = e.historical
  return event
}

/**
 * Without properties an envelope is recognised by its shape: a JSON object
 * with a string `id` and a string `payload`. Such a message that is otherwise
 * broken is an error, not a device payload; anything else is a device payload.
 */
function tryEnvelope(payload: Uint8Array, upstreamTopic: string): ConsumedEvent | undefined {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  if (typeof o.id !== 'string' || typeof o.payload !== 'string') return undefined
  return fromEnvelope(envelopeFromJson(v), upstreamTopic)
}

/** MQTT allows a user property name to repeat; MQTT.js then gives an array. The first value counts. */
function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
