import { ErrorCodes, OutpostError } from '../errors.js'

/**
 * Upstream topic names from a template such as 'outpost/{gatewayId}/{topic}'.
 * {gatewayId} is fixed per gateway and substituted once at compile time;
 * {topic} (device topic) and {clientId} (device client id) per event.
 */

const PLACEHOLDERS = ['gatewayId', 'topic', 'clientId'] as const
type Placeholder = (typeof PLACEHOLDERS)[number]

/** Returns the upstream topic, or null when the result is not a valid MQTT topic name. */
export type UpstreamTopic = (deviceTopic: string, clientId: string) => string | null

/** Bytes allowed in a topic name (2-byte length prefix). */
const MAX_TOPIC_BYTES = 65535
/** Wildcards and U+0000 are never allowed in a topic name. */
const FORBIDDEN = /[+#\u0000]/
/** In a /u regex a lone surrogate is a code point of its own: it cannot be encoded as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u

/** Why `topic` is not a valid MQTT topic name, or null when it is. */
export function topicNameProblem(topic: string): string | null {
  if (topic.length === 0) return 'empty'
  if (FORBIDDEN.test(topic)) return 'contains a wildcard (+ or #) or U+0000'
  if (LONE_SURROGATE.test(topic)) return 'is not valid UTF-8'
  if (topic.length * 3 > MAX_TOPIC_BYTES && Buffer.byteLength(topic) > MAX_TOPIC_BYTES) {
    return `is longer than ${MAX_TOPIC_BYTES} bytes`
  }
  return null
}

type Part = { text: string } | { name: Exclude<Placeholder, 'gatewayId'> }

export function compileTopicTemplate(template: string, gatewayId: string): UpstreamTopic {
  const fail = (why: string): never => {
    throw new OutpostError(ErrorCodes.UPLINK_TOPIC_TEMPLATE, `upstream.topicTemplate '${template}' ${why}`)
  }
  const parts: Part[] = []
  let text = ''
  let rest = template
  while (rest.length > 0) {
    const open = rest.indexOf('{')
    const close = rest.indexOf('}')
    if (open === -1 && close === -1) { text += rest; break }
    if (close !== -1 && (open === -1 || close < open)) fail('has a } without a matching {')
    const end = rest.indexOf('}', open)
    if (end === -1) fail('has a { without a matching }')
    const name = rest.slice(open + 1, end)
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      fail(`uses unknown placeholder {${name}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`)
    }
    text += rest.slice(0, open)
    if (name === 'gatewayId') {
      text += gatewayId
    } else {
      if (text.length > 0) parts.push({ text })
      text = ''
      parts.push({ name: name as 'topic' | 'clientId' })
    }
    rest = rest.slice(end + 1)
  }
  if (text.length > 0) parts.push({ text })

  const fixed = parts.map((p) => ('text' in p ? p.text : 'x')).join('')
  const problem = topicNameProblem(fixed)
  if (problem !== null) fail(`gives topic names that are not valid (with gatewayId '${gatewayId}': ${problem})`)

  const only = parts.length === 1 ? parts[0] : undefined
  if (only !== undefined && 'text' in only) {
    const topic = only.text
    return () => topic
  }
  const build = (deviceTopic: string, clientId: string): string | null => {
    let out = ''
    for (const part of parts) {
      out += 'text' in part ? part.text : part.name === 'topic' ? deviceTopic : clientId
    }
    return topicNameProblem(out) === null ? out : null
  }
  // Devices publish to the same few topics over and over: remember the results
  // (per client id only when the template uses it).
  const usesClient = parts.some((p) => 'name' in p && p.name === 'clientId')
  const byClient = new Map<string, Map<string, string | null>>()
  let cached = 0
  return (deviceTopic, clientId) => {
    const key = usesClient ? clientId : ''
    if (deviceTopic.length + key.length > CACHE_LONGEST) return build(deviceTopic, clientId)
    let topics = byClient.get(key)
    let out = topics?.get(deviceTopic)
    if (out !== undefined) return out
    out = build(deviceTopic, clientId)
    if (++cached > CACHE_MAX) {
      byClient.clear()
      cached = 1
      topics = undefined
    }
    if (topics === undefined) {
      topics = new Map()
      byClient.set(key, topics)
    }
    topics.set(deviceTopic, out)
    return out
  }
}

/** Most upstream topics remembered; the cache starts over past this. */
const CACHE_MAX = 10_000
/** Longer device topics (with the client id, when used) are not remembered: the cache stays small. */
const CACHE_LONGEST = 256
