/**
 * Validation of a contract document against the official AsyncAPI 3.0.0 JSON
 * Schema, as shipped by the `@asyncapi/specs` package (schemas only, no
 * parser), compiled once with ajv.
 */
import { createRequire } from 'node:module'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { pointerOf } from './source-map.js'

export interface SchemaProblem {
  /** JSON pointer into the document. */
  pointer: string
  message: string
}

let compiled: ValidateFunction | undefined

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const require = createRequire(import.meta.url)
    const schema = require('@asyncapi/specs/schemas/3.0.0-without-$id.json') as Record<string, unknown>
    // The schema is draft-07 and uses `format` as annotations the parser checks
    // elsewhere; ajv checks structure only (strict off: the schema has keywords
    // ajv does not know, like `example`).
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })
    compiled = ajv.compile(schema)
  }
  return compiled
}

/**
 * The ajv errors that explain the failure best. An AsyncAPI schema is full of
 * `oneOf: [Reference, Thing]`, so one mistake yields a summary error per
 * level plus "must have required property '$ref'". Drop those, keep the
 * deepest ones.
 */
export function bestErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const summary = new Set(['oneOf', 'anyOf', 'if', 'not', 'then', 'else'])
  const useful = errors.filter((e) => !summary.has(e.keyword) &&
    !(e.keyword === 'required' && (e.params as { missingProperty?: string }).missingProperty === '$ref'))
  const pool = useful.length > 0 ? useful : [...errors]
  const depth = (e: ErrorObject): number => e.instancePath.split('/').length
  const seen = new Set<string>()
  // Deepest first: the most specific place is the most useful to a person.
  return pool.sort((a, b) => depth(b) - depth(a)).filter((e) => {
    const key = `${errorPointer(e)} ${errorText(e)}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Where an ajv error points, including the offending property for additionalProperties. */
export function errorPointer(e: ErrorObject): string {
  const extra = (e.params as { additionalProperty?: string }).additionalProperty
  return extra === undefined ? e.instancePath : e.instancePath + pointerOf([extra])
}

export function errorText(e: ErrorObject): string {
  const params = e.params as { additionalProperty?: string; allowedValues?: unknown[] }
  if (e.keyword === 'additionalProperties') return `unknown property "${params.additionalProperty ?? ''}"`
  if (e.keyword === 'enum' && params.allowedValues) return `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  return e.message ?? e.keyword
}

export function asyncapiProblems(doc: unknown): SchemaProblem[] {
  const validate = validator()
  if (validate(doc)) return []
  return bestErrors(validate.errors ?? []).slice(0, 5).map((e) => ({ pointer: errorPointer(e), message: errorText(e) }))
}
