/**
 * What the consumer module hands to an application: one gateway event,
 * whatever upstream format carried it (docs/consumer.md).
 */

/** How the event travelled. */
export type UpstreamFormat =
  /** MQTT 5 user properties (`outpost-id`, ...) around the device's payload. */
  | 'properties'
  /** The JSON envelope (docs/envelope.md). */
  | 'envelope'
  /** One event of a CBOR batch (docs/batch-format.md). */
  | 'batch'
  /** No Outpost metadata at all: the message is passed through as it came. */
  | 'raw'

export interface ConsumedEvent {
  /** The event id `<gatewayId>-<epoch>-<seq>`; absent for a `raw` message, which cannot be deduplicated. */
  id?: string
  /** MQTT client id of the device, when the format carries it. */
  clientId?: string
  /** The device's topic; absent with `properties` and `raw`, which only have the upstream topic. */
  topic?: string
  /** The topic of the upstream MQTT message that carried the event. */
  upstreamTopic: string
  /** When the gateway accepted the event, ms since the Unix epoch. */
  acceptedAt?: number
  /** QoS the device published with (envelope and batch only). */
  qos?: 0 | 1 | 2
  /** The device's retain flag; absent for `raw`. */
  retain?: boolean
  /** The device's payload bytes. */
  payload: Uint8Array
  /** The event's string metadata, when it has any. */
  meta?: Record<string, string>
  /** True when the gateway marked the event historical (sent late from its backlog). */
  historical?: boolean
  format: UpstreamFormat
}

/** The parts of an upstream MQTT message the decoder looks at (MQTT.js's packet fits). */
export interface UpstreamMessage {
  topic: string
  /** The message's bytes (a string, as MQTT.js's packet type allows, is read as UTF-8). */
  payload: Uint8Array | string
  properties?: {
    userProperties?: Record<string, string | string[]>
    contentType?: string
  }
}
