import type { Logger } from 'pino'
import type { ReadOptions, SpoolReader, StoredEvent } from '../spool/types.js'
import type { BatchBuilder } from './batch-builder.js'
import { batchEventBytes } from './batch-builder.js'
import { createFlightWindow } from './flight-window.js'
import { exceedsPacketSize, type OutgoingPacket, type PacketBuilder } from './packet-builder.js'
import type { RateLimiter } from './rate-limiter.js'
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
 *
 * Batched mode: an upstream message carries up to `batch.maxEvents` events
 * (and `batch.maxBytes` of payload), oldest first; it takes one window slot
 * and is acked, retried or rejected as a unit. A batch that is not full goes
 * when the spool has nothing more, after waiting at most `batch.lingerMs` for
 * company; while the window is full it keeps growing, so batches get bigger
 * exactly when the link is the bottleneck.
 *
 * Rate limit: before each message the shared token bucket is asked; when it
 * says wait, one timer wakes the forwarder (never a timer per event).
 *
 * Solo (poison check, see poison-detector.ts): the connection sends only the
 * given record, alone, after `probeMs` of a quiet working connection, and goes
 * back to normal once it is answered.
 */

export interface ForwarderCounters {
  sent: number
  acked: number
  rejected: number
  retried: number
}

export interface ForwarderBatchOptions {
  maxEvents: number
  maxBytes: number
  lingerMs: number
  /** Fixed bytes of a batch besides its events. */
  overheadBytes: number
  build: BatchBuilder
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
  /** Batched mode; absent = one upstream message per event. */
  batch?: ForwarderBatchOptions
  /** Shared across connections, so a reconnect does not refill the bucket. */
  rate?: RateLimiter
  /** Mark events older than this (ms, by acceptedAt) as historical; null/0 = never. */
  historicalAfterMs?: number | null
  /** Poison check: send only this record, alone, after probeMs; then carry on as usual. */
  solo?: { seq: number; probeMs: number }
  /** Monotonic clock for timeouts and the rate limit. */
  now?: () => number
  /** Wall clock, compared with acceptedAt for the historical mark. */
  wallClock?: () => number
}

export interface Forwarder {
  start(): void
  /** The spool has new records. */
  wake(): void
  /** For a graceful stop: publish nothing more, keep taking PUBACKs. */
  pause(): void
  /** The connection is gone: ignore every late callback. */
  close(): void
  /** Upstream messages awaiting a PUBACK. */
  readonly inFlight: number
  /** Records acked over this connection. */
  readonly acked: number
  /** The oldest record of the oldest unanswered message, or undefined. */
  oldestInFlight(): StoredEvent | undefined
  /** Records in unanswered messages. */
  readonly recordsInFlight: number
}

/** One upstream message: one event, or a batch keyed by its first seq. */
interface Flight {
  seq: number
  events: StoredEvent[]
  /** Refusals so far (from the records' stored attempt counts). */
  attempts: number
  /** Payload bytes of the message while it is in flight. */
  bytes?: number
  /** Refused before and held for a retry: its events have `attempts` refusals, not what was read. */
  retried?: boolean
  /** When it was handed to the client (the flight window sets it). */
  sentAt?: number
}

const RAW: ReadOptions = Object.freeze({ raw: true })

/** Delay before reading again after a failed spool read. */
const READ_RETRY_MS = 1000
/**
 * Payload bytes in flight at most (one message is always allowed): the window
 * counts messages, and 1,024 of the largest payloads would be a quarter of a GB
 * queued in the socket.
 */
export const MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024
/** Fewest records read from the spool at once. */
const READ_AHEAD_MIN = 256
/** Most records read from the spool at once. */
const READ_AHEAD_MAX = 8192

type State = 'idle' | 'probing' | 'running' | 'paused' | 'closed'

export function createForwarder(o: ForwarderOptions): Forwarder {
  const now = o.now ?? (() => performance.now())
  const wall = o.wallClock ?? Date.now
  const win = createFlightWindow<Flight>(o.window)
  const retryTimers = new Set<NodeJS.Timeout>()
  const batch = o.batch
  const historicalAfter = o.historicalAfterMs ?? 0
  let state: State = 'idle'
  let cursor = -1
  let reading = false
  let wakeups = 0
  /**
   * The last read found nothing after the cursor and no append came during
   * it: reading again finds nothing until the next wake() (every committed
   * append wakes the forwarder), so a PUBACK does not start a read.
   */
  let drained = false
  let ackedHere = 0
  let recordsInFlight = 0
  let bytesInFlight = 0
  let solo: number | null = null
  let ackTimer: NodeJS.Timeout | null = null
  let readTimer: NodeJS.Timeout | null = null
  let waitTimer: NodeJS.Timeout | null = null

  /** Records read ahead of the window, so a PUBACK refills from memory, not from LevelDB. */
  let ahead: StoredEvent[] = []
  let aheadAt = 0
  /** The next chunk, being read while the current one is sent. */
  let prefetch: { cursor: number; seen: number; records: Promise<StoredEvent[]> } | null = null
  const readAhead = Math.min(READ_AHEAD_MAX, Math.max(o.window * 4, READ_AHEAD_MIN, (batch?.maxEvents ?? 0) * 4))

  /** Batched mode: the batch being gathered, its size bound, and since when. */
  let gathering: StoredEvent[] = []
  let gatheringBytes = 0
  let gatheringSince = 0
  /** Server's Maximum Packet Size caps a batch, with room for the PUBLISH header and properties. */
  const maxBatchBytes = batch === undefined ? 0
    : o.maxPacketSize === undefined ? batch.maxBytes : Math.min(batch.maxBytes, o.maxPacketSize - 512)

  async function fill(): Promise<void> {
    if (reading || state !== 'running') return
    reading = true
    try {
      while (state === 'running') {
        if (!pump()) return
        let next = prefetch
        prefetch = null
        if (next === null || next.cursor !== cursor) next = startRead()
        const records = await next.records
        if (state !== 'running') return
        ahead = records
        aheadAt = 0
        const last = records.at(-1)
        if (last !== undefined) cursor = last.seq
        // A full read means a backlog: read the next chunk while this one is
        // encoded and sent (the LevelDB iterator works off the main thread).
        if (records.length === readAhead) prefetch = startRead()
        // Nothing new: the spool is drained, unless an append came meanwhile.
        if (records.length === 0 && wakeups === next.seen) {
          drained = true
          flushGathering()
          return
        }
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

  function startRead(): { cursor: number; seen: number; records: Promise<StoredEvent[]> } {
    // Batched mode copies stored items into batches: the records come with their bytes.
    const records = o.spool.readAfter(cursor, readAhead, batch === undefined ? undefined : RAW)
    // A prefetch may fail while nobody awaits it yet: whoever awaits it later
    // still gets the error; until then it must not count as unhandled.
    records.catch(() => {})
    return { cursor, seen: wakeups, records }
  }

  /** Whether a message may go now; if not, arranges one wake-up. */
  function rateAllows(): boolean {
    if (o.rate === undefined || !o.rate.limited) return true
    const wait = o.rate.waitMs(now())
    if (wait <= 0) return true
    waitTimer ??= setTimeout(() => { waitTimer = null; void fill() }, wait)
    return false
  }

  /**
   * Send from the read-ahead while the window has room. True when the
   * read-ahead is used up and more should be read; false to stop for now.
   */
  function pump(): boolean {
    while (win.free() > 0 && (bytesInFlight < MAX_BYTES_IN_FLIGHT || win.inFlight === 0)) {
      if (!rateAllows()) return false
      if (solo !== null || batch === undefined) {
        const event = nextRecord()
        if (event === undefined) return true
        if (solo !== null && event.seq !== solo) {
          // The suspect is gone (acked or rejected meanwhile): nothing to check.
          endSolo()
          aheadAt--
          continue
        }
        // In batched mode the suspect goes as a batch of one.
        dispatch({ seq: event.seq, events: [event], attempts: event.attempts ?? 0 })
        continue
      }
      let event: StoredEvent | undefined
      while (gathering.length < batch.maxEvents && (event = nextRecord()) !== undefined) {
        const size = batchEventBytes(event)
        if (gathering.length > 0 && gatheringBytes + size > maxBatchBytes) {
          aheadAt-- // it starts the next batch
          break
        }
        if (gathering.length === 0) {
          gatheringSince = now()
          gatheringBytes = batch.overheadBytes
        }
        gathering.push(event)
        gatheringBytes += size
      }
      if (event === undefined && gathering.length < batch.maxEvents) return true
      sendGathering()
    }
    return false
  }

  function endSolo(): void {
    solo = null
    win.setLimit(o.window)
  }

  function nextRecord(): StoredEvent | undefined {
    while (aheadAt < ahead.length) {
      const event = ahead[aheadAt++]!
      if (!o.settling.has(event.seq)) return event
    }
    return undefined
  }

  /** The spool is drained: send a partial batch once it has lingered long enough. */
  function flushGathering(): void {
    if (batch === undefined || gathering.length === 0 || win.free() === 0) return
    const left = batch.lingerMs - (now() - gatheringSince)
    if (left > 0) {
      waitTimer ??= setTimeout(() => { waitTimer = null; void fill() }, left)
      return
    }
    if (rateAllows()) sendGathering()
  }

  function sendGathering(): void {
    const events = gathering
    gathering = []
    gatheringBytes = 0
    let attempts = 0
    for (const e of events) attempts = Math.max(attempts, e.attempts ?? 0)
    dispatch({ seq: events[0]!.seq, events, attempts })
  }

  function dispatch(flight: Flight): void {
    const { events } = flight
    let packet: OutgoingPacket | string
    if (batch === undefined) {
      const event = events[0]!
      packet = o.build(event, isHistorical(event))
    } else {
      packet = batch.build(events, events.map(isHistorical))
    }
    if (typeof packet === 'string') {
      for (const e of events) reject(e, packet)
      return
    }
    if (o.maxPacketSize !== undefined && exceedsPacketSize(packet, o.maxPacketSize)) {
      const why = events.length === 1 ? '' : ` (a batch of ${events.length})`
      for (const e of events) reject(e, `larger than the upstream's Maximum Packet Size (${o.maxPacketSize} bytes)${why}`)
      return
    }
    const t = now()
    if (o.rate?.limited === true) o.rate.take(events.length, packet.payload.byteLength, t)
    win.sent(flight, t)
    recordsInFlight += events.length
    flight.bytes = packet.payload.byteLength
    bytesInFlight += flight.bytes
    o.counters.sent++
    o.client.publish(packet.topic, packet.payload, packet.opts, (err) => onResult(flight, err))
    ackTimer ??= setTimeout(checkAcks, o.ackTimeoutMs)
  }

  function isHistorical(event: StoredEvent): boolean {
    return historicalAfter > 0 && wall() - event.acceptedAt > historicalAfter
  }

  function onResult(flight: Flight, err: Error | null | undefined): void {
    if (state === 'closed' || win.settle(flight.seq) === undefined) return
    recordsInFlight -= flight.events.length
    bytesInFlight -= flight.bytes ?? 0
    if (err == null) {
      // A batch in one call to the spool.
      if (flight.events.length === 1) o.spool.ack(flight.events[0]!.seq)
      else o.spool.ackMany(flight.events)
      o.counters.acked += flight.events.length
      ackedHere += flight.events.length
    } else {
      const code = pubackCodeOf(err)
      if (code === undefined) {
        // Not an answer from the broker: the client failed under this publish.
        // The record is still in the spool and goes again after reconnect.
        if (state === 'running') o.onDead(`publish failed: ${err.message}`)
        return
      }
      refused(flight, code)
    }
    // The suspect went through (or got a real answer): back to the full window.
    if (solo === flight.seq) endSolo()
    refill()
  }

  /**
   * After a PUBACK: send from the read-ahead right away; go through fill()
   * (an async function: a promise per call) only when more must be read, and
   * not at all when the spool has nothing new (caught up: the next append
   * wakes the forwarder).
   */
  function refill(): void {
    if (reading || state !== 'running') return
    if (!pump()) return
    if (drained) flushGathering()
    else void fill()
  }

  function refused(flight: Flight, code: number): void {
    const reason = describePubackCode(code)
    const attempts = flight.attempts + 1
    const first = flight.events[0]!
    const n = flight.events.length
    const what = n === 1 ? '' : ` (a batch of ${n})`
    if (classifyPubackCode(code) === 'permanent') {
      for (const e of flight.events) reject(counted(e, flight), reason + what, code)
      return
    }
    if (attempts >= o.maxAttempts) {
      for (const e of flight.events) reject(counted(e, flight), `${reason} (${attempts} attempts)${what}`, code)
      return
    }
    o.counters.retried += n
    o.log.warn({ id: first.id, seq: first.seq, clientId: first.clientId, count: n, code, reason, attempts, retryInMs: o.retryDelayMs },
      'upstream refused event; will retry')
    for (const e of flight.events) {
      o.spool.noteAttempt(e.seq).catch((err: unknown) => {
        o.log.error({ err, id: e.id }, 'could not note an upstream attempt in the spool')
      })
    }
    if (state !== 'running') return
    // The events themselves stay as read (records the spool serves from memory are shared, records
    // read with their bytes have getters): the flight carries the count.
    win.hold({ ...flight, attempts, retried: true })
    const timer = setTimeout(() => {
      retryTimers.delete(timer)
      if (state !== 'running') return
      const held = win.release(flight.seq)
      if (held !== undefined) dispatch(held)
    }, o.retryDelayMs)
    retryTimers.add(timer)
  }

  /** The event as the rejected store keeps it: with the refusals of a retried flight counted. */
  function counted(e: StoredEvent, flight: Flight): StoredEvent {
    if (flight.retried !== true || e.attempts === flight.attempts) return e
    const out: StoredEvent = {
      seq: e.seq, id: e.id, clientId: e.clientId, topic: e.topic, payload: e.payload, qos: e.qos, retain: e.retain,
      acceptedAt: e.acceptedAt, attempts: flight.attempts,
    }
    if (e.meta !== undefined) out.meta = e.meta
    if (e.upstreamTopic !== undefined) out.upstreamTopic = e.upstreamTopic
    return out
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
    for (const t of [ackTimer, readTimer, waitTimer]) if (t !== null) clearTimeout(t)
    ackTimer = null
    readTimer = null
    waitTimer = null
  }

  return {
    start() {
      if (state !== 'idle') return
      if (o.solo === undefined) {
        state = 'running'
        void fill()
        return
      }
      // Poison check: let the connection prove it works without the suspect
      // first, then send the suspect alone.
      solo = o.solo.seq
      win.setLimit(1)
      state = 'probing'
      waitTimer = setTimeout(() => {
        waitTimer = null
        if (state !== 'probing') return
        state = 'running'
        void fill()
      }, o.solo.probeMs)
    },
    wake() {
      wakeups++
      drained = false
      void fill()
    },
    pause() {
      if (state !== 'running' && state !== 'probing') return
      state = 'paused'
      clearTimers()
    },
    close() {
      state = 'closed'
      clearTimers()
      win.clear()
      ahead = []
      gathering = []
      prefetch = null
    },
    get inFlight() { return win.inFlight },
    get acked() { return ackedHere },
    get recordsInFlight() { return recordsInFlight },
    oldestInFlight() { return win.oldest()?.events[0] },
  }
}
