/**
 * MQTT topic filter matching, pure. [MQTT-4.7.1-2] '#' matches the parent level
 * and any number of child levels; [MQTT-4.7.1-3] '+' matches exactly one level.
 * [MQTT-4.7.2-1] filters starting with a wildcard do not match topics that
 * start with '$'.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

export interface ForwardRules {
  include: readonly string[]
  exclude: readonly string[]
}

/**
 * Which device topics go to the cloud. `$SYS/...` never does, whatever the
 * configuration says: it is the broker's own status tree.
 */
export function createForwardPredicate(rules: ForwardRules): (topic: string) => boolean {
  const cache = new Map<string, boolean>()
  return (topic) => {
    let hit = cache.get(topic)
    if (hit === undefined) {
      hit = !topic.startsWith('$SYS') &&
        rules.include.some((f) => topicMatches(f, topic)) &&
        !rules.exclude.some((f) => topicMatches(f, topic))
      // Devices publish to a small, stable set of topics; keep the cache bounded anyway.
      if (cache.size >= 10_000) cache.clear()
      cache.set(topic, hit)
    }
    return hit
  }
}
