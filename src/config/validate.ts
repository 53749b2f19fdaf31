/**
 * Validation with ajv, every error collected, each turned into one readable
 * issue per key path.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import type { Static, TSchema } from '@sinclair/typebox'
import type { ConfigIssue } from './config-error.js'
import { checkDocument, checkValue } from './checks.js'
import { describe, showValue } from './describe.js'
import { OutpostSchema } from './schema.js'
import { didYouMean } from './suggest.js'
import { envNameFor } from './env-overrides.js'

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true })
ajv.addVocabulary(['expected', 'secret'])

let validateAll: ValidateFunction<Static<typeof OutpostSchema>> | undefined
const leafValidators = new Map<string, ValidateFunction>()

function fullValidator(): ValidateFunction<Static<typeof OutpostSchema>> {
  validateAll ??= ajv.compile<Static<typeof OutpostSchema>>(OutpostSchema)
  return validateAll
}

/** `/upstream/reconnect/jitter` -> `upstream.reconnect.jitter`, `/forward/include/2` -> `forward.include[2]`. */
export function dottedPath(pointer: string, base = ''): string {
  let path = base
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    path = /^\d+$/.test(key) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`
  }
  return path
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

function issueFor(error: ErrorObject, base: string): { path: string; message: string; missing?: true } {
  const path = dottedPath(error.instancePath, base)
  const schema = error.parentSchema as TSchema
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty'])
      const known = Object.keys((schema['properties'] ?? {}) as object)
      return { path: join(path, key), message: `unknown key${didYouMean(key, known)}` }
    }
    case 'required': {
      const missing = join(path, String(error.params['missingProperty']))
      const name = envNameFor(missing)
      return { path: missing, message: `required key is missing${name === undefined ? '' : ` (or set ${name})`}`, missing: true }
    }
    default: {
      const enumValues = schema['enum'] as unknown[] | undefined
      const hint = typeof error.data === 'string' && enumValues?.every((v) => typeof v === 'string')
        ? didYouMean(error.data, enumValues as string[])
        : ''
      return { path, message: `expected ${describe(schema)}, got ${showValue(error.data, schema)}${hint}` }
    }
  }
}

/** One issue per path: ajv may report a type and a range failure for the same value. */
function toIssues(errors: readonly ErrorObject[], source: string, base: string, supplied: ReadonlySet<string>): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const { path, message, missing } = issueFor(error, base)
    if (seen.has(path) || (missing === true && supplied.has(path))) continue
    seen.add(path)
    issues.push({ source, path, message })
  }
  return issues
}

/**
 * Issues with a whole (defaulted) document. `supplied` holds paths that the
 * environment will set, so a required key given there is not missing.
 */
export function validateDocument(doc: unknown, source: string, supplied: ReadonlySet<string> = new Set()): ConfigIssue[] {
  const validate = fullValidator()
  const issues = validate(doc) ? [] : toIssues(validate.errors ?? [], source, '', supplied)
  const flagged = new Set(issues.map((issue) => issue.path))
  for (const finding of checkDocument(doc)) {
    if (!flagged.has(finding.path)) issues.push({ source, ...finding })
  }
  return issues.sort((a, b) => sectionIndex(a.path) - sectionIndex(b.path))
}

const SECTIONS = Object.keys(OutpostSchema.properties)

/** Issues grouped by top-level section, in schema order; unknown sections first. Sort is stable. */
function sectionIndex(path: string): number {
  return SECTIONS.indexOf(path.split(/[.[]/)[0] ?? '')
}

export function isValidConfig(doc: unknown): doc is Static<typeof OutpostSchema> {
  return fullValidator()(doc)
}

/** The schema found at a dotted path of plain keys, e.g. `broker.port`. */
export function schemaAt(path: string): TSchema {
  let schema: TSchema = OutpostSchema
  for (const key of path.split('.')) {
    const child = (schema['properties'] as Record<string, TSchema> | undefined)?.[key]
    if (child === undefined) throw new TypeError(`no schema at ${path}`)
    schema = child
  }
  return schema
}

/** Issues with one value destined for `path`, reported against `source`. */
export function validateValue(path: string, value: unknown, source: string): ConfigIssue[] {
  let validate = leafValidators.get(path)
  if (validate === undefined) {
    validate = ajv.compile(schemaAt(path))
    leafValidators.set(path, validate)
  }
  if (!validate(value)) return toIssues(validate.errors ?? [], source, path, new Set())
  return checkValue(path, value).map((finding) => ({ source, ...finding }))
}
