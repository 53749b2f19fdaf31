import type { IClientPublishOptions } from 'mqtt'
import type { StoredEvent } from '../spool/types.js'
import { asBuffer, encodeEnvelope, type EnvelopeMode } from './envelope.js'
import type { UpstreamTopic } from './topic-template.js'

/**
 * What goes upstream for one stored event. Pure: no client, no I/O.
 *
 * - The upstream topic is the one chosen at ingest when the event has one,
 *   else `upstream.topicTemplate` applied to the device topic.
 * - QoS 1 always; retain false always. A retained message upstream would be
 *   re-written by every at-least-once re-send and by late retries (an older
 *   value replacing a newer one), and some cloud brokers refuse retain. The
 *   device's flag travels instead: user property `outpost-retain: 1` on MQTT 5
 *   and the `retain` field of the JSON envelope.
 * - MQTT 5: user properties `outpost-id`, `outpost-client`, `outpost-ts`
 *   (acceptedAt, ms since the epoch, decimal string), and `outpost-<key>` for
 *   each entry of the event's metadata, and `outpost-historical: 1` when the
 *   event waited longer than upstream.historicalAfterMs. The payload is the
 *   stored bytes, not copied.
 * - Envelope json: the payload is the JSON envelope (docs/envelope.md), with
 *   `historical: true` in the same case.
 */

export interface OutgoingPacket {
  topic: string
  payload: Buffer
  opts: IClientPublishOptions
}

export interface PacketBuilderOptions {
  protocolVersion: 4 | 5
  envelope: EnvelopeMode
  upstreamTopic: UpstreamTopic
}

/** Returns the packet, or a reason string when the event cannot be sent as is. */
export type PacketBuilder = (event: StoredEvent, historical?: boolean) => OutgoingPacket | string

const PLAIN_V4: IClientPublishOptions = Object.freeze({ qos: 1, retain: false })

export function createPacketBuilder(opts: PacketBuilderOptions): PacketBuilder {
  const json = opts.envelope === 'json'
  const v5 = opts.protocolVersion === 5
  return (event, historical = false) => {
    const topic = event.upstreamTopic ?? opts.upstreamTopic(event.topic, event.clientId)
    if (topic === null) return `upstream topic for device topic '${event.topic}' is not a valid MQTT topic name`
    const payload = json ? encodeEnvelope(event, historical) : asBuffer(event.payload)
    if (!v5) return { topic, payload, opts: PLAIN_V4 }
    const userProperties: Record<string, string> = {
      'outpost-id': event.id,
      'outpost-client': event.clientId,
      'outpost-ts': String(event.acceptedAt),
    }
    if (event.retain) userProperties['outpost-retain'] = '1'
    if (historical) userProperties['outpost-historical'] = '1'
    if (event.meta !== undefined) {
      for (const key of Object.keys(event.meta)) userProperties[`outpost-${key}`] = event.meta[key] as string
    }
    const properties: IClientPublishOptions['properties'] = { userProperties }
    if (json) properties.contentType = 'application/json'
    return { topic, payload, opts: { qos: 1, retain: false, properties } }
  }
}

/**
 * Whether the encoded PUBLISH would be larger than `max` bytes (the server's
 * Maximum Packet Size from an MQTT 5 CONNACK). A cheap overestimate first
 * (UTF-16 units x3); exact byte counts only when that is too large.
 */
export function exceedsPacketSize(packet: OutgoingPacket, max: number): boolean {
  return packetSize(packet, (s) => s.length * 3) > max && packetSize(packet, Buffer.byteLength) > max
}

function packetSize(packet: OutgoingPacket, bytes: (s: string) => number): number {
  let props = 0
  const p = packet.opts.properties
  if (p !== undefined) {
    for (const [k, v] of Object.entries(p.userProperties ?? {})) props += 5 + bytes(k) + bytes(String(v))
    if (p.contentType !== undefined) props += 3 + bytes(p.contentType)
    props += varIntSize(props)
  }
  const remaining = 2 + bytes(packet.topic) + 2 + props + packet.payload.byteLength
  return 1 + varIntSize(remaining) + remaining
}

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}
