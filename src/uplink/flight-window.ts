import type { StoredEvent } from '../spool/types.js'

/**
 * Bookkeeping for one connection's window: publishes awaiting a PUBACK and
 * records refused with a transient code that wait for their retry. Both take
 * a slot (an entry is one upstream message: one event, or one batch keyed by
 * its first seq), so a storm of refusals stalls the window instead of burning through
 * the whole backlog's attempts. Pure: no timers, no I/O; `now` is passed in.
 */
export interface FlightWindow<T extends { seq: number } = StoredEvent> {
  /** Slots free for new publishes. */
  free(): number
  readonly inFlight: number
  readonly waiting: number
  setLimit(limit: number): void
  /** Record a publish handed to the client. */
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

export function createFlightWindow<T extends { seq: number } = StoredEvent>(limit: number): FlightWindow<T> {
  let max = Math.max(1, limit)
  // Insertion order is send order, so the first entry is the oldest.
  const flying = new Map<number, { event: T; sentAt: number }>()
  const parked = new Map<number, T>()
  return {
    free: () => Math.max(0, max - flying.size - parked.size),
    get inFlight() { return flying.size },
    get waiting() { return parked.size },
    setLimit(n) { max = Math.max(1, n) },
    sent(event, now) { flying.set(event.seq, { event, sentAt: now }) },
    settle(seq) {
      const entry = flying.get(seq)
      if (entry === undefined) return undefined
      flying.delete(seq)
      return entry.event
    },
    hold(event) { parked.set(event.seq, event) },
    release(seq) {
      const event = parked.get(seq)
      if (event !== undefined) parked.delete(seq)
      return event
    },
    oldestSentAt() {
      for (const entry of flying.values()) return entry.sentAt
      return undefined
    },
    oldest() {
      for (const entry of flying.values()) return entry.event
      return undefined
    },
    clear() {
      flying.clear()
      parked.clear()
    },
  }
}
