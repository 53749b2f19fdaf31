/**
 * Fills in missing keys from the `default` annotations of the schema, in place.
 * A missing section gets its default (`{}` for most), which is then filled in
 * turn. A section left empty in YAML (`broker:` with every key commented out)
 * parses as null and counts as missing, unless null means something there
 * (`upstream:`). Values of the wrong type are left alone for validation.
 */
import type { TSchema } from '@sinclair/typebox'

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isMissing(value: unknown, schema: TSchema): boolean {
  return value === undefined || (value === null && schema['type'] === 'object')
}

export function applyDefaults(schema: TSchema, value: unknown): void {
  const properties = schema['properties'] as Record<string, TSchema> | undefined
  if (properties === undefined || !isPlainObject(value)) return
  for (const [key, child] of Object.entries(properties)) {
    if (isMissing(value[key], child) && 'default' in child) value[key] = structuredClone(child['default'])
    applyDefaults(child, value[key])
  }
}

/** A copy with every mapping's keys in schema order, so a dumped config reads like the docs. */
export function inSchemaOrder(schema: TSchema, value: unknown): unknown {
  const properties = schema['properties'] as Record<string, TSchema> | undefined
  if (properties === undefined || !isPlainObject(value)) return value
  return Object.fromEntries(Object.entries(properties).map(([key, child]) => [key, inSchemaOrder(child, value[key])]))
}
