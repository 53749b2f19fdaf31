/**
 * What a loaded device contract looks like to the rest of the gateway, and
 * the small interface the ingest path uses (src/broker/ingest.ts imports only
 * these types).
 */
import type { ValidateFunction } from 'ajv'
import type { Profile } from './profile.js'
import type { TopicPattern } from './topic-pattern.js'

export const CONTENT_TYPES = ['application/json', 'application/cbor'] as const
export type ContentType = (typeof CONTENT_TYPES)[number]

export interface MessageSpec {
  /** Key of the message in the channel's `messages` map. */
  id: string
  /** `name` of the message, else its id: travels upstream as `outpost-message`. */
  name: string
  title?: string
  contentType: ContentType
  /** The payload schema with every local `$ref` inlined. */
  payloadSchema: unknown
  validate: ValidateFunction
  /** Path into the decoded payload where the correlation id is, when the message has one. */
  correlationPath?: readonly string[]
  /** The correlation id location as written (`$message.payload#/requestId`). */
  correlationLocation?: string
}

export interface ChannelSpec {
  id: string
  address: string
  description?: string
  pattern: TopicPattern
  /** Parameters that declare an `enum`: the values they accept. */
  allowed?: ReadonlyMap<string, ReadonlySet<string>>
  messages: MessageSpec[]
  /** Devices of this type publish here (a `send` operation, or the reply of a `receive`). */
  devicePublishes: boolean
  /** For channels the device receives on: the channel its replies go to. */
  replyChannel?: string
  /** Upstream topic template from the profile, when the profile maps this channel. */
  upstream?: string
}

export interface Contract {
  /** Folder name, e.g. `env-sensor-v1`. */
  folder: string
  /** Path of the folder. */
  dir: string
  deviceType: string
  /** `info.version` of the AsyncAPI document (`contract-version` upstream). */
  version: string
  title: string
  description?: string
  profile: Profile
  channels: ChannelSpec[]
  /** Client id belongs to this device type (the profile's `clients` patterns). */
  matchesClient(clientId: string): boolean
}

/** Why an event was set aside. Stable strings: they are stored with dead letters. */
export type InvalidReason =
  | 'unknown-topic'
  | 'client-not-in-profile'
  | 'not-published-by-device'
  | 'too-large'
  | 'undecodable'
  | 'schema'
  | 'rate-limit'

export type Verdict =
  | { kind: 'valid'; meta: Readonly<Record<string, string>>; upstreamTopic?: string }
  | { kind: 'invalid'; reason: InvalidReason; errors: string[]; deviceType?: string; contractVersion?: string }
  | { kind: 'unknown' }

export type UnknownTopicPolicy = 'dead-letter' | 'forward' | 'refuse'

/** An event set aside, as the ingest hands it to the dead-letter store. */
export interface DeadLetterInput {
  clientId: string
  topic: string
  payload: Uint8Array
  qos: 0 | 1 | 2
  retain: boolean
  reason: InvalidReason
  errors: string[]
  deviceType?: string
  contractVersion?: string
}

/** What the ingest path needs: a synchronous check and a durable dead-letter write. */
export interface ContractGate {
  check(clientId: string, topic: string, payload: Uint8Array): Verdict
  unknownTopics: UnknownTopicPolicy
  /** Resolves once the entry is on disk (fsync'd). */
  deadLetter(entry: DeadLetterInput): Promise<void>
}
