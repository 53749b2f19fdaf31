/**
 * AsyncAPI channel addresses as MQTT topic patterns: `env/{sensorId}/telemetry`
 * matches `env/0017/telemetry` with sensorId = "0017". A parameter is a whole
 * topic level, and matches any non-empty level (or one of its `enum` values).
 */
export interface TopicPattern {
  /** Literal levels as strings, parameters as `{ param }`. */
  levels: ReadonlyArray<string | { param: string }>
  /** The first level when it is literal: the key the channel index uses. */
  firstLiteral: string | undefined
  params: readonly string[]
}

/** Parses an address, or returns why it cannot be a topic pattern. */
export function parseAddress(address: string): TopicPattern | string {
  if (address.length === 0) return 'the address is empty'
  if (/[+#\u0000]/.test(address)) return 'an address must not contain "+", "#" or U+0000 (use {parameters})'
  const levels: Array<string | { param: string }> = []
  const params: string[] = []
  for (const level of address.split('/')) {
    const m = /^\{([^{}]+)\}$/.exec(level)
    if (m) {
      if (params.includes(m[1]!)) return `parameter {${m[1]!}} appears twice`
      params.push(m[1]!)
      levels.push({ param: m[1]! })
    } else if (/[{}]/.test(level)) {
      return `"${level}": a parameter must be a whole topic level`
    } else {
      levels.push(level)
    }
  }
  const first = levels[0]
  return { levels, firstLiteral: typeof first === 'string' ? first : undefined, params }
}

/**
 * The parameter values when `topic` (already split into levels) matches,
 * else undefined. `allowed` restricts parameters that declare an enum.
 */
export function matchTopic(pattern: TopicPattern, levels: readonly string[],
  allowed?: ReadonlyMap<string, ReadonlySet<string>>): Record<string, string> | undefined {
  if (levels.length !== pattern.levels.length) return undefined
  let params: Record<string, string> | undefined
  for (let i = 0; i < levels.length; i++) {
    const want = pattern.levels[i]!
    const got = levels[i]!
    if (typeof want === 'string') {
      if (want !== got) return undefined
    } else {
      if (got === '') return undefined
      const values = allowed?.get(want.param)
      if (values !== undefined && !values.has(got)) return undefined
      params ??= {}
      params[want.param] = got
    }
  }
  return params ?? {}
}
