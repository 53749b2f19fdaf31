/**
 * Checks that a JSON Schema cannot express well: MQTT topic filters, the
 * upstream topic template, the upstream URL, and rules across keys. They run
 * on values that already have the right type.
 */
import { isPlainObject } from './defaults.js'
import { TEMPLATE_PLACEHOLDERS } from './schema.js'
import { didYouMean } from './suggest.js'
import { showValue } from './describe.js'

export interface Finding { path: string; message: string }

const MAX_TOPIC_BYTES = 65535

/** Why `filter` is not a valid MQTT topic filter, or undefined if it is one. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'a topic filter must not be empty' // [MQTT-4.7.3-1]
  if (filter.includes('\u0000')) return 'a topic filter must not contain U+0000' // [MQTT-4.7.3-2]
  if (Buffer.byteLength(filter, 'utf8') > MAX_TOPIC_BYTES) return 'a topic filter must not exceed 65535 bytes' // [MQTT-4.7.3-3]
  const levels = filter.split('/')
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return '"#" must be a whole level and the last one' // [MQTT-4.7.1-2]
    }
    if (level.includes('+') && level !== '+') return '"+" must be a whole level' // [MQTT-4.7.1-3]
  }
  return undefined
}

function includeProblem(filter: string): string | undefined {
  const problem = topicFilterProblem(filter)
  if (problem !== undefined) return problem
  if (filter.startsWith('$SYS')) return '$SYS topics are never forwarded, so this filter can never match'
  return undefined
}

/** Why `template` is not a valid upstream topic template, or undefined. */
export function topicTemplateProblem(template: string): string | undefined {
  const known = TEMPLATE_PLACEHOLDERS.map((name) => `{${name}}`)
  const placeholder = /\{[^{}]*\}/g
  for (const [match] of template.matchAll(placeholder)) {
    if (!known.includes(match)) return `unknown placeholder ${match}${didYouMean(match, known)}; known: ${known.join(' ')}`
  }
  const literal = template.replace(placeholder, '')
  if (/[{}]/.test(literal)) return 'unbalanced "{" or "}"'
  if (/[+#\u0000]/.test(literal)) return 'a topic name must not contain "+", "#" or U+0000'
  return undefined
}

function urlProblem(url: string): string | undefined {
  try {
    const parsed = new URL(url)
    return parsed.hostname === '' ? 'the URL has no host name' : undefined
  } catch {
    return 'not a valid URL'
  }
}

/** Checks of single values, by dotted path (`[]` stands for any list index). */
export const VALUE_CHECKS: Readonly<Record<string, (value: string) => string | undefined>> = {
  'forward.include[]': includeProblem,
  'forward.exclude[]': topicFilterProblem,
  'upstream.url': urlProblem,
  'upstream.topicTemplate': topicTemplateProblem,
}

function get(doc: unknown, dotted: string): unknown {
  let value = doc
  for (const key of dotted.split('.')) value = isPlainObject(value) ? value[key] : undefined
  return value
}

function withValue(path: string, value: unknown, check: (value: string) => string | undefined): Finding[] {
  if (typeof value !== 'string') return []
  const problem = check(value)
  return problem === undefined ? [] : [{ path, message: `${problem}, got ${showValue(value)}` }]
}

/** Findings for the whole document. */
export function checkDocument(doc: unknown): Finding[] {
  const findings: Finding[] = []
  for (const [pattern, check] of Object.entries(VALUE_CHECKS)) {
    if (pattern.endsWith('[]')) {
      const path = pattern.slice(0, -2)
      const list = get(doc, path)
      if (Array.isArray(list)) list.forEach((item, i) => findings.push(...withValue(`${path}[${i}]`, item, check)))
    } else {
      findings.push(...withValue(pattern, get(doc, pattern), check))
    }
  }
  const initial = get(doc, 'upstream.reconnect.initialDelayMs')
  const max = get(doc, 'upstream.reconnect.maxDelayMs')
  if (typeof initial === 'number' && typeof max === 'number' && initial > max) {
    findings.push({
      path: 'upstream.reconnect.initialDelayMs',
      message: `must not exceed upstream.reconnect.maxDelayMs (${max}), got ${initial}`,
    })
  }
  return findings
}

/** The finding for one value set from the environment, if any. */
export function checkValue(path: string, value: unknown): Finding[] {
  const check = VALUE_CHECKS[path]
  return check === undefined ? [] : withValue(path, value, check)
}
