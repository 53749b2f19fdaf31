/**
 * Environment overrides: applied after the file, each value coerced from its
 * string by the schema of its key and validated on its own.
 */
import type { TSchema } from '@sinclair/typebox'
import type { ConfigIssue } from './config-error.js'
import { applyDefaults, isPlainObject } from './defaults.js'
import { ENV_OVERRIDES, type EnvOverrideName } from './env-overrides.js'
import { UpstreamObjectSchema } from './schema.js'
import { schemaAt, validateValue } from './validate.js'

export type Env = Readonly<Record<string, string | undefined>>

export interface EnvValue { name: EnvOverrideName; path: string; raw: string }

/** The overrides that are set; an empty string counts as unset. */
export function readEnv(env: Env): EnvValue[] {
  return Object.entries(ENV_OVERRIDES).flatMap(([name, path]) => {
    const raw = env[name]
    return raw === undefined || raw === '' ? [] : [{ name: name as EnvOverrideName, path, raw }]
  })
}

/** The string as the type the schema wants; left a string when it does not parse, for validation to report. */
export function coerce(raw: string, schema: TSchema): unknown {
  const types = ([] as unknown[]).concat(schema['type'])
  const text = raw.trim()
  if (types.includes('integer') && /^[+-]?\d+$/.test(text)) return Number(text)
  if (types.includes('number') && text !== '' && Number.isFinite(Number(text))) return Number(text)
  if (types.includes('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true'
  return raw
}

/** Sets every valid override on `doc` in place; returns the problems. */
export function applyEnv(doc: Record<string, unknown>, values: readonly EnvValue[]): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  for (const { name, path, raw } of values) {
    const source = `env ${name}`
    const value = coerce(raw, schemaAt(path))
    const problems = validateValue(path, value, source)
    if (problems.length > 0) {
      issues.push(...problems)
      continue
    }
    const [section, key] = path.split('.') as [string, string]
    if (section === 'upstream' && doc['upstream'] === null) {
      if (key !== 'url') {
        issues.push({ source, path, message: 'upstream is not configured (null); set upstream.url or OUTPOST_UPSTREAM_URL' })
        continue
      }
      const upstream: Record<string, unknown> = { url: value }
      applyDefaults(UpstreamObjectSchema, upstream)
      doc['upstream'] = upstream
    }
    const target = doc[section]
    // Otherwise the section itself is invalid, which the file's issues already say.
    if (isPlainObject(target)) target[key] = value
  }
  return issues
}
