import { decode } from 'cbor-x'
import { rawConnect, type RawConnection } from './client.js'
import { readPayload } from './payload.js'
import { PacketType, parsePublish, pubackPacket, subscribePacket } from './wire.js'

/**
 * The cloud subscriber: one raw MQTT 3.1.1 connection to the upstream
 * Mosquitto, persistent session (clean false, fixed client id), `#` at QoS 1,
 * a PUBACK for every message. It reconnects every 10 ms while the cloud is
 * down, so messages queued for it during an outage arrive when the cloud is back.
 *
 * Every arrival is matched to the current expectation by the run tag in the
 * payload: unique events counted in a bitmap per publisher, duplicates
 * counted, latency = arrival - send time (both CLOCK_MONOTONIC, ns).
 * Outpost's batched messages (CBOR, docs/batch-format) are opened and each
 * event inside counted the same way.
 */

export interface Expectation {
  tag: number
  publishers: number
  perPublisher: number
  latency?: boolean
}

export interface Tracker {
  readonly unique: number
  readonly duplicates: number
  /** Messages on the wire (a batch counts once). */
  readonly messages: number
  readonly firstArrivalNs: bigint | null
  readonly lastArrivalNs: bigint | null
  /** Latencies in ms, in arrival order (unique events only). */
  latencies(): Float64Array
  /** Resolves true when `count` unique events arrived, false at the timeout. */
  waitFor(count: number, timeoutMs: number): Promise<boolean>
  /**
   * Resolves true once `count` unique events arrived; false when, after at
   * least `minMs`, nothing new arrived for `quietMs`, or after `maxMs`.
   */
  waitAllOrQuiet(count: number, o: { minMs: number; quietMs: number; maxMs: number }): Promise<boolean>
}

export interface Subscriber {
  expect(e: Expectation): Tracker
  /** Messages whose tag matched no current expectation (leftovers of earlier runs). */
  readonly stale: number
  readonly connected: boolean
  close(): Promise<void>
}

class TrackerImpl implements Tracker {
  unique = 0
  duplicates = 0
  messages = 0
  firstArrivalNs: bigint | null = null
  lastArrivalNs: bigint | null = null
  private seen: Uint8Array[]
  private lat: Float64Array
  private waiters = new Set<() => void>()

  constructor(readonly e: Expectation) {
    this.seen = Array.from({ length: e.publishers }, () => new Uint8Array(Math.ceil(e.perPublisher / 8)))
    this.lat = new Float64Array(e.latency === true ? e.publishers * e.perPublisher : 0)
  }

  arrive(publisher: number, seq: number, sentAt: bigint, now: bigint): void {
    const bits = this.seen[publisher]
    if (bits === undefined || seq >= this.e.perPublisher) return
    const byte = seq >> 3
    const mask = 1 << (seq & 7)
    if ((bits[byte]! & mask) !== 0) {
      this.duplicates++
      return
    }
    bits[byte] = bits[byte]! | mask
    if (this.lat.length > 0) this.lat[this.unique] = Number(now - sentAt) / 1e6
    this.unique++
    this.firstArrivalNs ??= now
    this.lastArrivalNs = now
  }

  notify(): void {
    for (const w of this.waiters) w()
  }

  latencies(): Float64Array {
    return this.lat.subarray(0, this.unique)
  }

  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.unique < count) return
        this.waiters.delete(check)
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => { this.waiters.delete(check); resolve(false) }, timeoutMs)
      this.waiters.add(check)
      check()
    })
  }

  async waitAllOrQuiet(count: number, o: { minMs: number; quietMs: number; maxMs: number }): Promise<boolean> {
    const t0 = performance.now()
    let last = -1
    let lastChange = t0
    while (performance.now() - t0 < o.maxMs) {
      if (await this.waitFor(count, 100)) return true
      const n = this.unique + this.duplicates
      const now = performance.now()
      if (n !== last) { last = n; lastChange = now }
      else if (now - t0 >= o.minMs && now - lastChange >= o.quietMs) return false
    }
    return false
  }
}

export async function startSubscriber(port: number, clientId = `bench-cloud-${process.pid}`): Promise<Subscriber> {
  const trackers = new Map<number, TrackerImpl>()
  let stale = 0
  let conn: RawConnection | null = null
  let closing = false

  const onPublish = (payload: Uint8Array, now: bigint): TrackerImpl | undefined => {
    const f = readPayload(payload)
    const t = f === null ? undefined : trackers.get(f.tag)
    if (f === null || t === undefined) {
      stale++
      return undefined
    }
    t.arrive(f.publisher, f.seq, f.sentAt, now)
    return t
  }

  const onBatch = (payload: Buffer, now: bigint): void => {
    let doc: unknown
    try {
      doc = decode(payload)
    } catch {
      stale++
      return
    }
    if (!Array.isArray(doc) || doc[0] !== 'outpost-batch' || !Array.isArray(doc[3])) {
      stale++
      return
    }
    let touched: TrackerImpl | undefined
    for (const ev of doc[3] as unknown[][]) {
      const bytes = ev[6]
      if (bytes instanceof Uint8Array) touched = onPublish(bytes, now) ?? touched
    }
    if (touched) touched.messages++
  }

  async function connectOnce(): Promise<void> {
    const c = await rawConnect({
      port,
      clientId,
      clean: false,
      timeoutMs: 2000,
      onPacket: (p) => {
        if (p.type !== PacketType.PUBLISH) return
        const now = process.hrtime.bigint()
        const { packetId, payload } = parsePublish(p)
        if (payload.length >= 3 && payload[0] === 0xd9 && payload[1] === 0xd9 && payload[2] === 0xf7) onBatch(payload, now)
        else {
          const t = onPublish(payload, now)
          if (t) t.messages++
        }
        if (packetId !== 0) acks.push(pubackPacket(packetId))
        if (!ackQueued) {
          ackQueued = true
          queueMicrotask(flushAcks)
        }
      },
    })
    conn = c
    c.write(subscribePacket(1, '#', 1))
    void c.closed.then(() => {
      conn = null
      if (!closing) void reconnect()
    })
  }

  let acks: Buffer[] = []
  let ackQueued = false
  const flushAcks = (): void => {
    ackQueued = false
    if (acks.length > 0 && conn !== null) conn.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks))
    acks = []
    for (const t of trackers.values()) t.notify()
  }

  async function reconnect(): Promise<void> {
    while (!closing && conn === null) {
      try {
        await connectOnce()
      } catch {
        await new Promise((r) => setTimeout(r, 10))
      }
    }
  }

  await connectOnce()
  return {
    expect(e) {
      const t = new TrackerImpl(e)
      trackers.set(e.tag, t)
      return t
    },
    get stale() { return stale },
    get connected() { return conn !== null },
    async close() {
      closing = true
      await conn?.close()
    },
  }
}
