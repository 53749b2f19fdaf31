/**
 * Bookkeeping for one connection's window: publishes awaiting a PUBACK and
 * records refused with a transient code that wait for their retry. Both take
 * a slot (an entry is one upstream message: one event, or one batch keyed by
 * its first seq), so a storm of refusals stalls the window instead of burning through
 * the whole backlog's attempts. Pure: no timers, no I/O; `now` is passed in.
 */
export interface FlightWindow<T extends Sendable = Sendable> {
  /** Slots free for new publishes. */
  free(): number
  readonly inFlight: number
  readonly waiting: number
  setLimit(limit: number): void
  /** Record a publish handed to the client; its `sentAt` is set to `now`. */
  sent(event: T, now: number): void
  /** Remove a publish whose callback came; undefined when unknown (already settled). */
  settle(seq: number): T | undefined
  /** Park a refused record until its retry. */
  hold(event: T): void
  /** Take a parked record back (for its retry); undefined when unknown. */
  release(seq: number): T | undefined
  /** When the oldest unanswered publish was sent, or undefined when none. */
  oldestSentAt(): number | undefined
  /** The oldest unanswered publish, or undefined when none. */
  oldest(): T | undefined
  clear(): void
}

/** What the window holds: keyed by seq, stamped with its send time (no wrapper object per publish). */
export interface Sendable {
  seq: number
  sentAt?: number
}

export function createFlightWindow<T extends Sendable = Sendable>(limit: number): FlightWindow<T> {
  let max = Math.max(1, limit)
  // Insertion order is send order, so the first entry is the oldest.
  const flying = new Map<number, T>()
  const parked = new Map<number, T>()
  return {
    free: () => Math.max(0, max - flying.size - parked.size),
    get inFlight() { return flying.size },
    get waiting() { return parked.size },
    setLimit(n) { max = Math.max(1, n) },
    sent(event, now) {
      event.sentAt = now
      flying.set(event.seq, event)
    },
    settle(seq) {
      const event = flying.get(seq)
      if (event === undefined) return undefined
      flying.delete(seq)
      return event
    },
    hold(event) { parked.set(event.seq, event) },
    release(seq) {
      const event = parked.get(seq)
      if (event !== undefined) parked.delete(seq)
      return event
    },
    oldestSentAt() {
      for (const event of flying.values()) return event.sentAt
      return undefined
    },
    oldest() {
      for (const event of flying.values()) return event
      return undefined
    },
    clear() {
      flying.clear()
      parked.clear()
    },
  }
}
