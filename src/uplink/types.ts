import type { Logger } from 'pino'
import type { IClientOptions, IClientPublishOptions, IConnackPacket, IDisconnectPacket } from 'mqtt'
import type { SpoolReader } from '../spool/types.js'

/** The `uplink` config section, field for field. */
export interface UplinkOptions {
  /** mqtt:// or mqtts:// */
  url: string
  protocolVersion: 4 | 5
  clientId: string
  username: string | null
  password: string | null
  /** false (default) keeps a persistent session upstream. */
  clean: boolean
  keepaliveSec: number
  connectTimeoutMs: number
  /** e.g. 'outpost/{gatewayId}/{topic}'; placeholders {gatewayId} {topic} {clientId}. */
  topicTemplate: string
  qos: 1
  /** Most QoS 1 publishes in flight (and awaiting retry) at once. */
  window: number
  /** 'auto' = 'json' on protocol 4, 'none' on 5. */
  envelope: 'auto' | 'none' | 'json'
  reconnect: ReconnectPolicy
  /** In-flight publishes without a PUBACK for this long mean a dead link. */
  ackTimeoutMs: number
  rejected: { maxAttempts: number; retryDelayMs: number }
  tls: UplinkTlsOptions | null
  batch: UplinkBatchOptions
  rateLimit: UplinkRateLimit
  /** Events that waited longer than this in the backlog are marked historical; null or 0 = never. */
  historicalAfterMs: number | null
  /**
   * Connection drops in a row, each with the same oldest record in flight and
   * nothing acknowledged, before that record is tried alone (and rejected if
   * the link drops again). 0 = never.
   */
  poisonAfterDrops: number
}

/** Many events per upstream message (docs/batch-format.md). */
export interface UplinkBatchOptions {
  /** Most events per batch; 0 = batching off (one message per event). */
  maxEvents: number
  /** Most bytes of encoded batch payload. */
  maxBytes: number
  /** How long a batch that is not full waits for more events. */
  lingerMs: number
  /** Batches in flight at once (upstream.window counts single events in plain mode). */
  window: number
  /** Upstream topic of batches; placeholder {gatewayId} only. */
  topic: string
}

/** Token bucket for metered links; 0 = unlimited. */
export interface UplinkRateLimit {
  eventsPerSec: number
  bytesPerSec: number
}

export interface ReconnectPolicy {
  initialDelayMs: number
  maxDelayMs: number
  multiplier: number
  /** 0..1: share of each delay that is randomised. */
  jitter: number
}

/** Paths to PEM files, read at start. */
export interface UplinkTlsOptions {
  ca: string | null
  cert: string | null
  key: string | null
  servername: string | null
  rejectUnauthorized: boolean
}

export type UplinkStatus = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopping' | 'stopped'

export interface UplinkStats {
  /** Publishes handed to the MQTT client, re-sends included. */
  sent: number
  /** PUBACKs that deleted a record from the spool. */
  acked: number
  /** Records moved to the spool's rejected store. */
  rejected: number
  /** Transient refusals scheduled for another attempt. */
  retried: number
  /** Successful connections after the first one. */
  reconnects: number
  /** Publishes awaiting a PUBACK right now. */
  inFlight: number
  lastError: string | null
}

export type StatusListener = (status: UplinkStatus, previous: UplinkStatus) => void

export interface Uplink {
  /** Connect and forward. Throws OutpostError on a bad URL, TLS file or topic template. */
  start(): void
  /** Stop feeding, wait (at most ackTimeoutMs) for in-flight PUBACKs, close. Unacked records stay in the spool. */
  stop(): Promise<void>
  readonly status: UplinkStatus
  stats(): UplinkStats
  /** Called on every status change; returns an unsubscribe function. */
  onStatus(listener: StatusListener): () => void
}

/** What the uplink needs from an MQTT connection; one object per connection attempt. */
export interface UplinkClient {
  publish(topic: string, payload: Buffer, opts: IClientPublishOptions, cb: PublishCallback): void
  /** Drop the connection now (no DISCONNECT). */
  destroy(): void
  /** Send DISCONNECT once in-flight publishes are acked, or destroy after `timeoutMs`. */
  end(timeoutMs: number): Promise<void>
}

export type PublishCallback = (err?: Error | null) => void

export interface ClientHandlers {
  onConnect(connack: IConnackPacket): void
  onClose(): void
  onError(err: Error): void
  /** MQTT 5 DISCONNECT from the server. */
  onDisconnect(packet: IDisconnectPacket): void
}

export type ConnectFn = (url: string, options: IClientOptions, handlers: ClientHandlers) => UplinkClient

export interface UplinkDeps {
  options: UplinkOptions
  gatewayId: string
  spool: SpoolReader
  log: Logger
  /** Test seam: how a connection is made. Defaults to MQTT.js. */
  connect?: ConnectFn
}
