/**
 * Payloads generated from a message's JSON Schema, for `outpost simulate`:
 * valid ones (checked against the compiled validator before use) and ones
 * broken on purpose (a required field removed, a wrong type, a value out of
 * range; checked to fail). Covers the keywords device contracts use; a schema
 * it cannot satisfy is reported, not papered over.
 */
import type { MessageSpec } from './types.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export type Rng = () => number

/** A small seeded generator (mulberry32), for reproducible runs and tests. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'

export function generateValue(schema: unknown, rng: Rng, depth = 0): unknown {
  if (!isObj(schema) || depth > 8) return null
  if ('const' in schema) return schema['const']
  if (Array.isArray(schema['enum'])) return schema['enum'][Math.floor(rng() * schema['enum'].length)]
  for (const k of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(schema[k]) && schema[k].length > 0) return generateValue(schema[k][0], rng, depth + 1)
  }
  let type = schema['type']
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null'
  if (type === undefined && isObj(schema['properties'])) type = 'object'
  switch (type) {
    case 'object': {
      const out: Obj = {}
      const required = new Set(Array.isArray(schema['required']) ? schema['required'] as string[] : [])
      for (const [name, sub] of Object.entries(isObj(schema['properties']) ? schema['properties'] : {})) {
        if (required.has(name) || rng() < 0.7) out[name] = generateValue(sub, rng, depth + 1)
      }
      return out
    }
    case 'array': {
      const min = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0
      const max = typeof schema['maxItems'] === 'number' ? schema['maxItems'] : min + 3
      const n = min + Math.floor(rng() * (Math.min(max, min + 3) - min + 1))
      return Array.from({ length: n }, () => generateValue(schema['items'], rng, depth + 1))
    }
    case 'integer':
    case 'number': {
      const lo = typeof schema['minimum'] === 'number' ? schema['minimum']
        : typeof schema['exclusiveMinimum'] === 'number' ? schema['exclusiveMinimum'] + 1 : 0
      const hi = typeof schema['maximum'] === 'number' ? schema['maximum']
        : typeof schema['exclusiveMaximum'] === 'number' ? schema['exclusiveMaximum'] - 1 : lo + 1000
      const span = Math.min(hi - lo, 1e12)
      const v = lo + rng() * span
      return type === 'integer' ? Math.min(hi, Math.ceil(v)) : Math.round(v * 100) / 100
    }
    case 'boolean':
      return rng() < 0.5
    case 'string': {
      if (schema['format'] === 'date-time') return new Date().toISOString()
      const min = typeof schema['minLength'] === 'number' ? schema['minLength'] : 1
      const max = typeof schema['maxLength'] === 'number' ? schema['maxLength'] : min + 12
      const n = min + Math.floor(rng() * (Math.min(max, min + 12) - min + 1))
      let s = ''
      for (let i = 0; i < n; i++) s += ALNUM[Math.floor(rng() * ALNUM.length)]
      return s
    }
    case 'null':
      return null
    default:
      return {}
  }
}

/** A payload value the message's validator accepts; throws when the schema defeats the generator. */
export function generateValid(message: MessageSpec, rng: Rng): unknown {
  for (let i = 0; i < 20; i++) {
    const v = generateValue(message.payloadSchema, rng)
    if (message.validate(v)) return v
  }
  throw new Error(`cannot generate a valid payload for message "${message.name}" from its schema (a pattern or combination the generator does not handle)`)
}

/** A payload value the validator refuses: a valid one with one thing broken. */
export function generateInvalid(message: MessageSpec, rng: Rng): unknown {
  for (let i = 0; i < 20; i++) {
    const v = generateValid(message, rng)
    if (!isObj(v)) return { unexpected: true }
    const keys = Object.keys(v)
    const schema = message.payloadSchema as Obj
    const required = Array.isArray(schema['required']) ? schema['required'] as string[] : []
    const pick = Math.floor(rng() * 3)
    if (pick === 0 && required.length > 0) delete v[required[Math.floor(rng() * required.length)]!]
    else if (pick === 1 && keys.length > 0) v[keys[Math.floor(rng() * keys.length)]!] = typeof v[keys[0]!] === 'string' ? 12345 : 'not-a-number'
    else v['unexpectedField'] = 'x'
    if (!message.validate(v)) return v
  }
  return 'not an object'
}
