/** Words for error messages: what a schema accepts, and what was found instead. */
import type { TSchema } from '@sinclair/typebox'
import { isPlainObject } from './defaults.js'

const MAX_SHOWN = 60

function range(schema: TSchema): string {
  const min = schema['minimum'] as number | undefined
  const max = schema['maximum'] as number | undefined
  if (min !== undefined && max !== undefined) return ` ${min}..${max}`
  if (min !== undefined) return ` >= ${min}`
  if (max !== undefined) return ` <= ${max}`
  return ''
}

function describeType(type: string | undefined, schema: TSchema): string {
  switch (type) {
    case 'integer':
    case 'number':
      return `${type}${range(schema)}`
    case 'string':
      return schema['minLength'] === 1 ? 'non-empty string' : 'string'
    case 'boolean':
      return 'true or false'
    case 'object':
      return 'a mapping'
    case 'array':
      return 'a list'
    default:
      return 'a valid value'
  }
}

/** What the schema accepts, e.g. `integer 0..65535` or `one of "json", "pretty"`. */
export function describe(schema: TSchema): string {
  const types = ([] as (string | undefined)[]).concat(schema['type'] as string | string[] | undefined)
  const nullable = types.includes('null')
  let base: string
  if (typeof schema['expected'] === 'string') base = schema['expected']
  else if (schema['const'] !== undefined) base = JSON.stringify(schema['const'])
  else if (Array.isArray(schema['enum'])) base = `one of ${schema['enum'].map((v) => JSON.stringify(v)).join(', ')}`
  else base = describeType(types.find((t) => t !== 'null'), schema)
  return nullable ? `${base} or null` : base
}

/** A found value as shown in an error: short, quoted if a string, credentials in URLs masked. */
export function showValue(value: unknown, schema?: TSchema): string {
  if (schema?.['secret'] === true) return 'a value not shown here (secret)'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (isPlainObject(value)) return 'a mapping'
  if (typeof value !== 'string') return String(value)
  const masked = value.replace(/\/\/[^/@\s]*@/, '//***@')
  const short = masked.length > MAX_SHOWN ? `${masked.slice(0, MAX_SHOWN)}...` : masked
  return JSON.stringify(short)
}
