/**
 * The configuration schema: the single source of truth. The TypeScript type,
 * the defaults, the validation and the error wording are all read from it.
 *
 * Two annotation keywords ride along in the schema (registered with ajv as
 * annotations, they never affect validation):
 * - `expected`: how an error names a valid value when the schema alone says
 *   it badly (a regex pattern, say);
 * - `secret`: never echo the value in an error.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'

/** Largest delay Node's timers accept; above it setTimeout fires at once. */
export const MAX_TIMER_MS = 2_147_483_647

function StringEnum<const T extends readonly string[]>(values: T, options: { default: T[number] }) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

/**
 * `null` or the given schema. Written as `type: [x, 'null']` rather than
 * `anyOf`, so a bad value yields one error instead of one per branch, and
 * object keywords apply only when the value is an object.
 */
function Nullable<T extends TSchema>(schema: T, options: { default: null } & Record<string, unknown>) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema['type'] as string, 'null'], ...options })
}

function Int(minimum: number, maximum: number | undefined, defaultValue: number) {
  return Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: defaultValue })
}

const TopicFilters = (defaultValue: string[]) =>
  Type.Array(Type.String({ expected: 'an MQTT topic filter' }), { default: defaultValue, expected: 'a list of MQTT topic filters' })

export const ENVELOPES = ['auto', 'none', 'json'] as const
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export const TEMPLATE_PLACEHOLDERS = ['gatewayId', 'topic', 'clientId'] as const
export const SPOOL_ON_FULL = ['reject', 'drop-oldest'] as const

const closed = { additionalProperties: false } as const

const GatewaySchema = Type.Object({
  id: Type.String({
    pattern: '^[A-Za-z0-9_-]{1,64}$',
    default: 'outpost',
    expected: '1 to 64 characters from A-Z a-z 0-9 _ -',
  }),
  dataDir: Type.String({ minLength: 1, default: './data' }),
}, { ...closed, default: {} })

const LogSchema = Type.Object({
  level: StringEnum(LOG_LEVELS, { default: 'info' }),
  format: StringEnum(['json', 'pretty'] as const, { default: 'json' }),
  statusIntervalMs: Int(1000, 86_400_000, 60_000),
}, { ...closed, default: {} })

const BrokerSchema = Type.Object({
  host: Type.String({ minLength: 1, default: '0.0.0.0' }),
  port: Int(0, 65535, 1883),
  maxPayloadBytes: Int(1, 268_435_455, 262_144),
  maxClientIdLength: Int(1, 65535, 128),
}, { ...closed, default: {} })

const SpoolSchema = Type.Object({
  groupCommitMs: Type.Number({ minimum: 0, maximum: 100, default: 0 }),
  maxBatch: Int(1, 100_000, 1024),
  compactEveryAcks: Int(0, 10_000_000, 50_000),
  // Retention and backpressure (docs/configuration.md#spool, docs/architecture.md#retention-and-backpressure).
  maxBytes: Int(0, Number.MAX_SAFE_INTEGER, 0),
  maxAgeSec: Int(0, 3_153_600_000, 0),
  minFreeBytes: Int(0, Number.MAX_SAFE_INTEGER, 33_554_432),
  onFull: StringEnum(SPOOL_ON_FULL, { default: 'reject' }),
  holdMs: Int(0, MAX_TIMER_MS, 10_000),
  maxHeld: Int(0, 1_000_000, 1000),
  checkIntervalMs: Int(100, MAX_TIMER_MS, 5000),
}, { ...closed, default: {} })

const ForwardSchema = Type.Object({
  include: TopicFilters(['#']),
  exclude: TopicFilters([]),
  qos0: Type.Boolean({ default: true }),
}, { ...closed, default: {} })

const ReconnectSchema = Type.Object({
  initialDelayMs: Int(1, MAX_TIMER_MS, 500),
  maxDelayMs: Int(1, MAX_TIMER_MS, 30_000),
  multiplier: Type.Number({ minimum: 1, maximum: 100, default: 2 }),
  jitter: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
}, { ...closed, default: {} })

const RejectedSchema = Type.Object({
  maxAttempts: Int(1, undefined, 5),
  retryDelayMs: Int(0, MAX_TIMER_MS, 5000),
}, { ...closed, default: {} })

const TlsSchema = Type.Object({
  ca: Nullable(Type.String({ minLength: 1 }), { default: null }),
  cert: Nullable(Type.String({ minLength: 1 }), { default: null }),
  key: Nullable(Type.String({ minLength: 1 }), { default: null }),
  servername: Nullable(Type.String({ minLength: 1 }), { default: null }),
  rejectUnauthorized: Type.Boolean({ default: true }),
}, closed)

const BatchSchema = Type.Object({
  maxEvents: Int(0, 65535, 0),
  maxBytes: Int(1024, 268_435_455, 131_072),
  lingerMs: Int(0, 60_000, 20),
  window: Int(1, 65535, 16),
  topic: Type.String({ minLength: 1, default: 'outpost/{gatewayId}/batch' }),
}, { ...closed, default: {} })

const RateLimitSchema = Type.Object({
  eventsPerSec: Type.Number({ minimum: 0, default: 0 }),
  bytesPerSec: Type.Number({ minimum: 0, default: 0 }),
}, { ...closed, default: {} })

const UpstreamSchema = Type.Object({
  url: Type.String({ pattern: '^mqtts?://.', expected: 'a URL starting with mqtt:// or mqtts://' }),
  protocolVersion: Type.Unsafe<4 | 5>({ type: 'integer', enum: [4, 5], default: 5 }),
  clientId: Nullable(Type.String({ minLength: 1, maxLength: 65535 }), { default: null }),
  username: Nullable(Type.String(), { default: null }),
  password: Nullable(Type.String(), { default: null, secret: true }),
  clean: Type.Boolean({ default: false }),
  keepaliveSec: Int(1, 65535, 30),
  connectTimeoutMs: Int(1, MAX_TIMER_MS, 10_000),
  topicTemplate: Type.String({ minLength: 1, default: 'outpost/{gatewayId}/{topic}' }),
  qos: Type.Literal(1, { default: 1, expected: '1 (the only QoS level supported for now)' }),
  window: Int(1, 65535, 1024),
  envelope: StringEnum(ENVELOPES, { default: 'auto' }),
  reconnect: ReconnectSchema,
  ackTimeoutMs: Int(1, MAX_TIMER_MS, 30_000),
  rejected: RejectedSchema,
  tls: Nullable(TlsSchema, { default: null }),
  batch: BatchSchema,
  rateLimit: RateLimitSchema,
  historicalAfterMs: Nullable(Int(0, MAX_TIMER_MS, 0), { default: null }),
  poisonAfterDrops: Int(0, 1000, 3),
}, closed)

export const UNKNOWN_TOPIC_POLICIES = ['dead-letter', 'forward', 'refuse'] as const

const DeadLetterSchema = Type.Object({
  maxEntries: Int(1, 100_000_000, 100_000),
  maxBytes: Int(1_048_576, 1_099_511_627_776, 268_435_456),
}, { ...closed, default: {} })

const ContractsSchema = Type.Object({
  dir: Nullable(Type.String({ minLength: 1 }), { default: null }),
  unknownTopics: StringEnum(UNKNOWN_TOPIC_POLICIES, { default: 'dead-letter' }),
  deadLetter: DeadLetterSchema,
}, { ...closed, default: {} })

export const OutpostSchema = Type.Object({
  gateway: GatewaySchema,
  log: LogSchema,
  broker: BrokerSchema,
  spool: SpoolSchema,
  forward: ForwardSchema,
  upstream: Nullable(UpstreamSchema, { default: null }),
  contracts: ContractsSchema,
}, closed)

/** The schema of the `upstream` object, used to fill in a section created from the environment. */
export const UpstreamObjectSchema = UpstreamSchema

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T

/** A validated, fully defaulted configuration. Deep-frozen at run time, so read-only in type. */
export type OutpostConfig = DeepReadonly<Static<typeof OutpostSchema>>
export type UpstreamConfig = NonNullable<OutpostConfig['upstream']>
