/**
 * A device's publish that nobody at the edge listens to, without aedes'
 * local fan-out.
 *
 * After the PUBACK, aedes passes every device PUBLISH through a series of
 * four steps: store it if retained, ask the persistence for offline
 * subscribers and queue it for them, emit it to the subscribers connected
 * now (a topic match in mqemitter's trie), and call the `published` hook and
 * the 'publish' event. On a gateway, devices publish and the uplink forwards
 * from the spool: usually no device subscribes, and the first three steps
 * find nothing to do, at about a kilobyte of garbage per event (a packet
 * copy, the series' state, two promises, the topic split into words).
 *
 * `skipUnheardPublishes` wraps `broker.publish`: when a device's publish is
 * QoS 0 or 1, not retained, the persistence stores no subscription at all,
 * and no subscription connected now matches its topic, only the fourth step
 * runs. Every other publish takes aedes' own path. Whether a topic has a
 * connected subscriber is asked of mqemitter's trie once and remembered until
 * any subscription is added or removed.
 */

/** The parts of an aedes broker this reads. */
export interface PublishingBroker {
  publish(packet: PublishedPacket, client: unknown, done?: (err?: Error) => void): void
  published: (packet: PublishedPacket, client: unknown, done: (err?: Error | null) => void) => void
  emit(event: 'publish', packet: PublishedPacket, client: unknown): boolean
  maxTopicLevels?: number
  mq?: unknown
}

export interface PublishedPacket {
  topic: string
  qos: number
  retain: boolean
}

/** mqemitter's topic trie (a Qlobber), as far as this uses it. */
interface Matcher {
  match(topic: string): unknown[]
  add(topic: string, fn: unknown): unknown
  remove(topic: string, fn?: unknown): unknown
  clear?: () => unknown
}

/** The persistence's answer to "could any publish have an offline subscriber?" (session-store.ts). */
export interface SubscriptionCount {
  storesSubscriptions?: () => boolean
}

/** Most topics remembered; past it the memory starts again. */
const TOPICS_MAX = 10_000

/**
 * Returns false (and changes nothing) when the broker's emitter or
 * persistence cannot answer the questions the shortcut needs.
 */
export function skipUnheardPublishes(broker: PublishingBroker, persistence: SubscriptionCount | undefined): boolean {
  const mq = broker.mq as { _matcher?: Matcher; closed?: boolean } | undefined
  const matcher = mq?._matcher
  const stores = persistence?.storesSubscriptions
  if (mq === undefined || matcher === undefined || typeof matcher.match !== 'function' || stores === undefined) return false

  /** Topic -> no connected subscription matches it. */
  const unheard = new Map<string, boolean>()
  for (const name of ['add', 'remove', 'clear'] as const) {
    const own = matcher[name]
    if (typeof own !== 'function') continue
    matcher[name] = function (this: Matcher, ...args: unknown[]) {
      unheard.clear()
      return (own as (...a: unknown[]) => unknown).apply(this, args)
    } as never
  }

  const original = broker.publish.bind(broker)
  const maxLevels = broker.maxTopicLevels ?? 100
  broker.publish = (packet, client, done) => {
    if (typeof client !== 'object' || client === null || packet.retain || packet.qos > 1 || mq.closed === true ||
      stores.call(persistence) || levels(packet.topic) > maxLevels) {
      original(packet, client, done)
      return
    }
    let none = unheard.get(packet.topic)
    if (none === undefined) {
      none = matcher.match(packet.topic).length === 0
      if (unheard.size >= TOPICS_MAX) unheard.clear()
      unheard.set(packet.topic, none)
    }
    if (!none) {
      original(packet, client, done)
      return
    }
    broker.published(packet, client, (err) => (done ?? noop)(err ?? undefined))
    broker.emit('publish', packet, client)
  }
  return true
}

function levels(topic: string): number {
  let n = 1
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) n++
  return n
}

const noop = (): void => undefined
