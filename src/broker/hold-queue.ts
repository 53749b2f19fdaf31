import { asError } from '../errors.js'

/**
 * Backpressure at the device: while the spool refuses new events (a retention
 * limit, or a disk it cannot write), a QoS >= 1 publish is held without PUBACK
 * for up to `holdMs`, then refused, which makes aedes close the connection.
 *
 * Why hold, then close: aedes reads a device's next packets only after every
 * packet of the previous read was answered, so a held publish stops reading
 * from that socket. The device's unacknowledged publishes wait in its own
 * outgoing store and the TCP buffers; the gateway keeps at most one read's
 * packets per device, and `maxHeld` overall. When room comes back within
 * `holdMs`, the held publishes are stored and acknowledged and the device
 * notices nothing but latency. Past `holdMs` the connection is closed without
 * PUBACK: MQTT.js and embedded clients re-send unacknowledged QoS 1/2 publishes
 * after reconnecting (their reconnect delay paces the retries), and a device
 * whose own PUBACK timeout is shorter re-sends with DUP=1 on the same
 * connection, which the spool's dedup window recognises.
 *
 * Order: one device's held publishes are retried one at a time, oldest first,
 * and all of them are refused together, so a device's events are never stored
 * out of order. Pure of sockets; the timer functions are injectable.
 */
export interface HoldQueueOptions<T> {
  holdMs: number
  maxHeld: number
  /** Try to store; `done(null)` once stored, else `done(the spool's error)`. Never called back synchronously. */
  attempt: (item: T, done: (err: unknown) => void) => void
  /** Is this error one that room coming back can cure (OUTPOST_SPOOL_FULL, OUTPOST_SPOOL_UNAVAILABLE)? */
  retriable: (err: unknown) => boolean
  /**
   * Would the spool take an append right now? Checked before each retry, so a
   * release stops at the first refusal instead of trying every held device.
   */
  canAttempt?: () => boolean
  /** Subscribe to "the spool may take writes again"; undefined = never hold. */
  onWritable: ((listener: () => void) => () => void) | undefined
  /** Final answer for an item: null = stored, else the error the device's connection is closed with. */
  settle: (item: T, err: Error | null) => void
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (timer: unknown) => void
}

export interface HoldStats {
  /** Publishes held at the moment. */
  held: number
  /** Publishes that were held and later stored. */
  heldThenStored: number
  /** Publishes refused after holdMs, or at once because maxHeld was reached. */
  heldRefused: number
}

interface Held<T> {
  item: T
  timer: unknown
  lastError: Error
}

export interface HoldQueue<T> {
  /** Store an item, holding it while the spool is full. Items of one key keep their order. */
  submit(key: string, item: T): void
  /** Refuse everything held (shutdown). */
  refuseAll(err: Error): void
  readonly stats: HoldStats
}

export function createHoldQueue<T>(opts: HoldQueueOptions<T>): HoldQueue<T> {
  const setTimer = opts.setTimer ?? ((fn: () => void, ms: number) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  })
  const clearTimer = opts.clearTimer ?? ((t: unknown) => clearTimeout(t as NodeJS.Timeout))
  /** Per key, its held items in order; the first may be in an attempt. */
  const queues = new Map<string, Array<Held<T>>>()
  const trying = new Set<string>()
  const stats: HoldStats = { held: 0, heldThenStored: 0, heldRefused: 0 }
  let unsubscribe: (() => void) | null = null


  function refuseKey(key: string, err: Error): void {
    const q = queues.get(key)
    if (!q) return
    queues.delete(key)
    for (const h of q) {
      clearTimer(h.timer)
      stats.held--
      stats.heldRefused++
      opts.settle(h.item, err)
    }
    idle()
  }

  function idle(): void {
    if (stats.held === 0 && unsubscribe) {
      unsubscribe()
      unsubscribe = null
    }
  }

  function hold(key: string, item: T, err: Error): boolean {
    if (opts.holdMs <= 0 || opts.onWritable === undefined || stats.held >= opts.maxHeld) return false
    const h: Held<T> = { item, timer: null, lastError: err }
    h.timer = setTimer(() => {
      // The oldest of this key ran out of time: refuse it and its followers together.
      refuseKey(key, h.lastError)
    }, opts.holdMs)
    let q = queues.get(key)
    if (!q) {
      q = []
      queues.set(key, q)
    }
    q.push(h)
    stats.held++
    unsubscribe ??= opts.onWritable(release)
    return true
  }

  /** Try the head of one key's queue; on success move on to the next. */
  function tryHead(key: string): void {
    const q = queues.get(key)
    if (!q || q.length === 0 || trying.has(key)) return
    if (opts.canAttempt && !opts.canAttempt()) return
    const h = q[0]!
    trying.add(key)
    opts.attempt(h.item, (err) => {
      if (err !== null) {
        retryFailed(key, h, err)
        return
      }
      trying.delete(key)
      const cur = queues.get(key)
      if (cur?.[0] !== h) return // refused meanwhile
      cur.shift()
      if (cur.length === 0) queues.delete(key)
      clearTimer(h.timer)
      stats.held--
      stats.heldThenStored++
      opts.settle(h.item, null)
      idle()
      tryHead(key)
    })
  }

  function retryFailed(key: string, h: Held<T>, err: unknown): void {
    trying.delete(key)
    if (queues.get(key)?.[0] !== h) return
    if (opts.retriable(err)) {
      h.lastError = asError(err)
      // Still full: wait for the next release or the deadline, behind the other devices.
      const q = queues.get(key)!
      queues.delete(key)
      queues.set(key, q)
      return
    }
    refuseKey(key, asError(err))
  }

  /** The first try of an item that was not held: stored, refused, or held now. */
  function firstTryDone(key: string, item: T, err: unknown): void {
    if (err === null) {
      opts.settle(item, null)
      return
    }
    if (!opts.retriable(err)) {
      opts.settle(item, asError(err))
      return
    }
    // Held behind another publish of this device held meanwhile, or on its own.
    if (!hold(key, item, asError(err))) {
      stats.heldRefused++
      opts.settle(item, asError(err))
    }
  }

  function release(): void {
    for (const key of [...queues.keys()]) {
      if (opts.canAttempt && !opts.canAttempt()) return
      tryHead(key)
    }
  }

  return {
    submit(key, item) {
      const q = queues.get(key)
      if (q) {
        // Behind this device's held publishes, to keep its order.
        const err = q[q.length - 1]!.lastError
        if (!hold(key, item, err)) {
          stats.heldRefused++
          opts.settle(item, err)
        }
        return
      }
      opts.attempt(item, (err) => firstTryDone(key, item, err))
    },
    refuseAll(err) {
      for (const key of [...queues.keys()]) refuseKey(key, err)
    },
    stats,
  }
}
