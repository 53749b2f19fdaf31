/**
 * The pipeline: read file -> parse YAML -> apply defaults -> validate (every
 * error at once) -> environment overrides (validated too) -> resolve -> freeze.
 */
import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { ErrorCodes } from '../errors.js'
import { ConfigError, type ConfigIssue } from './config-error.js'
import { applyDefaults, inSchemaOrder, isPlainObject } from './defaults.js'
import { applyEnv, readEnv, type Env } from './env.js'
import { deepFreeze } from './freeze.js'
import { OutpostSchema, type OutpostConfig } from './schema.js'
import { isValidConfig, validateDocument } from './validate.js'

export interface ParseOptions {
  /** Named in every issue: the file path as the operator wrote it. */
  source: string
  /** Environment to read `OUTPOST_*` overrides from. Not read implicitly: pass `process.env`. */
  env?: Env
}

function yamlIssues(errors: ReturnType<typeof parseDocument>['errors'], source: string): ConfigIssue[] {
  return errors.map((error) => {
    const where = error.linePos?.[0]
    const at = where === undefined ? '' : `line ${where.line}, column ${where.col}: `
    const what = error.code === 'MULTIPLE_DOCS'
      ? 'the file holds more than one YAML document ("---"); it must hold one'
      : (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
    return { source, path: '', message: `YAML syntax error at ${at}${what}` }
  })
}

/** Parses YAML text into a plain value; an empty or comment-only document is `{}`. */
function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (document.errors.length > 0) throw new ConfigError(yamlIssues(document.errors, source))
  try {
    return document.toJS() ?? {}
  } catch (err) {
    throw new ConfigError([{ source, path: '', message: `YAML error: ${(err as Error).message}` }], { cause: err })
  }
}

/** Text to a frozen, validated configuration. Pure: no file system, no implicit `process.env`. */
export function parseConfig(text: string, opts: ParseOptions): OutpostConfig {
  const { source, env = {} } = opts
  const doc = parseYaml(text, source)
  applyDefaults(OutpostSchema, doc)
  const overrides = readEnv(env)
  const issues = validateDocument(doc, source, new Set(overrides.map((o) => o.path)))
  if (isPlainObject(doc)) issues.push(...applyEnv(doc, overrides))
  if (issues.length > 0) throw new ConfigError(issues)
  // Resolve: each override was checked alone, so check the merged whole once
  // more, then put keys in schema order.
  const merged = validateDocument(doc, source)
  const config = inSchemaOrder(OutpostSchema, doc)
  if (merged.length > 0 || !isValidConfig(config)) throw new ConfigError(merged)
  return deepFreeze(config)
}

const READ_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
}

/** Reads and parses a config file. Relative paths inside it are left for the caller to resolve. */
export function loadConfig(opts: { file: string; env?: Env }): OutpostConfig {
  let text: string
  try {
    text = readFileSync(opts.file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    const reason = READ_FAILURES[code] ?? (err as Error).message
    const issue = { source: opts.file, path: '', message: `cannot read the file: ${reason}${code === '' ? '' : ` (${code})`}` }
    throw new ConfigError([issue], { code: ErrorCodes.CONFIG_READ, cause: err })
  }
  return parseConfig(text, { source: opts.file, ...(opts.env === undefined ? {} : { env: opts.env }) })
}
