/**
 * The profile of a device type (`profile.yaml` next to the AsyncAPI
 * document): which clients belong to the type, what they may publish, size
 * and rate limits, and how their topics map upstream. Schema in TypeBox,
 * checked with ajv like the gateway's own configuration.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import { bestErrors, errorPointer, errorText, type SchemaProblem } from './asyncapi-validate.js'

const closed = { additionalProperties: false } as const

export const ProfileSchema = Type.Object({
  deviceType: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'Device type name; the folder is <deviceType>-v<major>.' }),
  clients: Type.Array(Type.String({ minLength: 1, maxLength: 65535 }), {
    minItems: 1, description: 'Client id patterns; "*" matches any run of characters.',
  }),
  publish: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'Channel ids devices may publish on. Default: channels of send operations and replies of receive operations.',
  })),
  maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 268_435_455 })),
  maxRate: Type.Optional(Type.Object({
    perSecond: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  }, closed)),
  upstream: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }), {
    description: 'Upstream topic template per channel id.',
  })),
}, closed)

export type Profile = Static<typeof ProfileSchema>

const validate = new Ajv({ allErrors: true, strict: false }).compile<Profile>(ProfileSchema)

export function profileProblems(value: unknown): SchemaProblem[] {
  if (validate(value)) return []
  return bestErrors(validate.errors ?? []).map((e) => ({ pointer: errorPointer(e), message: errorText(e) }))
}

/** `env-*` -> a matcher; patterns without `*` compare exactly. */
export function clientMatcher(patterns: readonly string[]): (clientId: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns.filter((p) => p.includes('*')).map((p) =>
    new RegExp('^' + p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's'))
  return (clientId) => exact.has(clientId) || globs.some((re) => re.test(clientId))
}
