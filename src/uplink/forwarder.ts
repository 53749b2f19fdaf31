import type { Logger } from 'pino'
import type { SpoolReader, StoredEvent } from '../spool/types.js'
import { createFlightWindow } from './flight-window.js'
import { exceedsPacketSize, type PacketBuilder } from './packet-builder.js'
import { classifyPubackCode, describePubackCode, pubackCodeOf } from './reason-codes.js'
import type { UplinkClient } from './types.js'

/**
 * Forwarding over one live connection: read the spool oldest first behind a
 * cursor, keep at most `window` QoS 1 publishes in flight, ack the spool on
 * each PUBACK, refill, and wait for appends when the spool is drained.
 *
 * One forwarder per connection. When the connection goes, the uplink closes
 * it and its bookkeeping dies with it; the next connection gets a new one whose
 * cursor starts at -1, so it re-sends from the oldest record not yet acked,
 * in seq order. That keeps per-device order across reconnects: a re-send can
 * repeat a suffix, never reorder it.
 *
 * Refused records (MQTT 5 PUBACK >= 0x80) are never forgotten: a permanent
 * code moves the record to the spool's rejected store at once; a transient one
 * (0x80, 0x83, 0x97) notes an attempt and retries after `retryDelayMs`, up to
 * `maxAttempts` refusals, then rejects.
 *
 * Ordering choice for retries: a record waiting for its retry does not hold
 * back later records, not even those of the same device. So an event the
 * upstream refused with a transient code can reach the cloud after later
 * events of its device. This is the one exception to per-device order, chosen
 * so that one refused event cannot stall a device (or the gateway) for
 * maxAttempts x retryDelayMs. A consumer that needs strict order can restore
 * it: the id ends in the gateway's sequence number and `outpost-ts` is the
 * acceptance time. The waiting record keeps its window slot, so a storm of
 * refusals (a quota, a broker in trouble) stalls forwarding rather than
 * spending every record's attempts in a few seconds.
 */

export interface ForwarderCounters {
  sent: number
  acked: number
  rejected: number
  retried: number
}

export interface ForwarderOptions {
  spool: SpoolReader
  client: Pick<UplinkClient, 'publish'>
  build: PacketBuilder
  window: number
  ackTimeoutMs: number
  maxAttempts: number
  retryDelayMs: number
  /** The server's Maximum Packet Size (MQTT 5 CONNACK), when it sent one. */
  maxPacketSize?: number
  counters: ForwarderCounters
  /** Seqs whose move to the rejected store is under way; shared across connections. */
  settling: Set<number>
  log: Logger
  /** The connection is not working (no PUBACKs, or the client failed a publish). */
  onDead(reason: string): void
  /** A problem that does not close the connection (e.g. a spool read failed). */
  onError(message: string): void
  now?: () => number
}

export interface Forwarder {
  start(): void
  /** The spool has new records. */
  wake(): void
  /** For a graceful stop: publish nothing more, keep taking PUBACKs. */
  pause(): void
  /** The connection is gone: ignore every late callback. */
  close(): void
  readonly inFlight: number
}

/** Delay before reading again after a failed spool read. */
const READ_RETRY_MS = 1000
/** Fewest records read from the spool at once. */
const READ_AHEAD_MIN = 256

type State = 'idle' | 'running' | 'paused' | 'closed'

export function createForwarder(o: ForwarderOptions): Forwarder {
  const now = o.now ?? (() => performance.now())
  const win = createFlightWindow(o.window)
  const retryTimers = new Set<NodeJS.Timeout>()
  let state: State = 'idle'
  let cursor = -1
  let reading = false
  let wakeups = 0
  let ackTimer: NodeJS.Timeout | null = null
  let readTimer: NodeJS.Timeout | null = null

  /** Records read ahead of the window, so a PUBACK refills from memory, not from LevelDB. */
  let ahead: StoredEvent[] = []
  let aheadAt = 0
  const readAhead = Math.max(o.window * 4, READ_AHEAD_MIN)

  async function fill(): Promise<void> {
    if (reading || state !== 'running') return
    reading = true
    try {
      while (state === 'running') {
        while (win.free() > 0 && aheadAt < ahead.length) {
          const event = ahead[aheadAt++]!
          if (!o.settling.has(event.seq)) dispatch(event)
        }
        if (win.free() === 0) return
        const seen = wakeups
        const batch = await o.spool.readAfter(cursor, readAhead)
        if (state !== 'running') return
        ahead = batch
        aheadAt = 0
        const last = batch.at(-1)
        if (last !== undefined) cursor = last.seq
        // Nothing new: the spool is drained, unless an append came meanwhile.
        if (batch.length === 0 && wakeups === seen) return
      }
    } catch (err) {
      if (state !== 'running') return
      const message = `spool read failed: ${(err as Error).message}`
      o.log.error({ err }, 'uplink could not read the spool; trying again')
      o.onError(message)
      readTimer ??= setTimeout(() => { readTimer = null; void fill() }, READ_RETRY_MS)
    } finally {
      reading = false
    }
  }

  function dispatch(event: StoredEvent): void {
    const packet = o.build(event)
    if (typeof packet === 'string') {
      reject(event, packet)
      return
    }
    if (o.maxPacketSize !== undefined && exceedsPacketSize(packet, o.maxPacketSize)) {
      reject(event, `larger than the upstream's Maximum Packet Size (${o.maxPacketSize} bytes)`)
      return
    }
    win.sent(event, now())
    o.counters.sent++
    o.client.publish(packet.topic, packet.payload, packet.opts, (err) => onResult(event, err))
    ackTimer ??= setTimeout(checkAcks, o.ackTimeoutMs)
  }

  function onResult(event: StoredEvent, err: Error | null | undefined): void {
    if (state === 'closed' || win.settle(event.seq) === undefined) return
    if (err == null) {
      o.spool.ack(event.seq)
      o.counters.acked++
    } else {
      const code = pubackCodeOf(err)
      if (code === undefined) {
        // Not an answer from the broker: the client failed under this publish.
        // The record is still in the spool and goes again after reconnect.
        if (state === 'running') o.onDead(`publish failed: ${err.message}`)
        return
      }
      refused(event, code)
    }
    void fill()
  }

  function refused(event: StoredEvent, code: number): void {
    const reason = describePubackCode(code)
    const attempts = (event.attempts ?? 0) + 1
    if (classifyPubackCode(code) === 'permanent') {
      reject(event, reason, code)
      return
    }
    if (attempts >= o.maxAttempts) {
      reject(event, `${reason} (${attempts} attempts)`, code)
      return
    }
    o.counters.retried++
    o.log.warn({ id: event.id, seq: event.seq, clientId: event.clientId, code, reason, attempts, retryInMs: o.retryDelayMs },
      'upstream refused event; will retry')
    o.spool.noteAttempt(event.seq).catch((err: unknown) => {
      o.log.error({ err, id: event.id }, 'could not note an upstream attempt in the spool')
    })
    if (state !== 'running') return
    win.hold({ ...event, attempts })
    const timer = setTimeout(() => {
      retryTimers.delete(timer)
      if (state !== 'running') return
      const held = win.release(event.seq)
      if (held !== undefined) dispatch(held)
    }, o.retryDelayMs)
    retryTimers.add(timer)
  }

  function reject(event: StoredEvent, reason: string, code?: number): void {
    o.counters.rejected++
    o.log.warn({ id: event.id, seq: event.seq, clientId: event.clientId, topic: event.topic, code, reason },
      'upstream refused event; moved to the rejected store')
    o.settling.add(event.seq)
    o.spool.reject(event, reason, code).then(
      () => { o.settling.delete(event.seq) },
      (err: unknown) => {
        o.settling.delete(event.seq)
        o.log.error({ err, id: event.id }, 'could not move a refused event to the rejected store; it stays in the log')
      },
    )
  }

  /** Dead-link detection: the oldest unanswered publish is older than ackTimeoutMs. */
  function checkAcks(): void {
    ackTimer = null
    if (state !== 'running') return
    const oldest = win.oldestSentAt()
    if (oldest === undefined) return
    const age = now() - oldest
    if (age >= o.ackTimeoutMs) {
      o.onDead(`no PUBACK within ${o.ackTimeoutMs} ms (${win.inFlight} publishes in flight)`)
      return
    }
    ackTimer = setTimeout(checkAcks, Math.max(1, Math.ceil(o.ackTimeoutMs - age)))
  }

  function clearTimers(): void {
    for (const timer of retryTimers) clearTimeout(timer)
    retryTimers.clear()
    if (ackTimer !== null) clearTimeout(ackTimer)
    if (readTimer !== null) clearTimeout(readTimer)
    ackTimer = null
    readTimer = null
  }

  return {
    start() {
      if (state !== 'idle') return
      state = 'running'
      void fill()
    },
    wake() {
      wakeups++
      void fill()
    },
    pause() {
      if (state !== 'running') return
      state = 'paused'
      clearTimers()
    },
    close() {
      state = 'closed'
      clearTimers()
      win.clear()
      ahead = []
    },
    get inFlight() { return win.inFlight },
  }
}
