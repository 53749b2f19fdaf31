import { performance } from 'node:perf_hooks'
import { rawConnect, type RawConnection } from './client.js'
import { fillPayload, PAYLOAD_BYTES, writePayload } from './payload.js'
import { PacketType, publishTemplate, type PublishTemplate } from './wire.js'

/**
 * The load generator's work, run inside a worker thread (load-worker.ts) so
 * that it has its own event loop: N device connections over raw MQTT 3.1.1,
 * QoS 1, 100-byte payloads stamped with the send time.
 */

export interface BurstRequest {
  kind: 'burst'
  port: number
  publishers: number
  /** Events per publisher. */
  events: number
  /** Publishes in flight per publisher. */
  inflight: number
  tag: number
  topicPrefix: string
  timeoutMs: number
}

export interface PacedRequest {
  kind: 'paced'
  port: number
  publishers: number
  /** Events per second, all publishers together. */
  rate: number
  /** Events in all. */
  total: number
  tag: number
  topicPrefix: string
  timeoutMs: number
}

export type LoadRequest = BurstRequest | PacedRequest

export interface LoadResult {
  sent: number
  acked: number
  /** From the first write to the last PUBACK. */
  elapsedMs: number
  /** performance.now() of this thread is not comparable; hrtime (ns, as string) is. */
  startedAtNs: string
  ackedAtNs: string
  /** Event-loop utilisation of the generator thread over the run (0..1): near 1 means it was the bottleneck. */
  elu: number
  /** Paced runs: the largest delay between when an event was due and when it was written. */
  maxLagMs: number
  /** Paced runs: publish to the edge's PUBACK (ms), p50 and p99: the device side of the latency. */
  pubackP50Ms?: number
  pubackP99Ms?: number
  error?: string
}

interface Publisher {
  index: number
  conn: RawConnection
  tpl: PublishTemplate
  nextId: number
  sent: number
  acked: number
  onAck: () => void
  /** Paced runs: performance.now() when each packet id was queued, for the PUBACK latency. */
  sentAt: Float64Array | null
}

async function openPublishers(req: LoadRequest, onAck: (p: Publisher) => void, ackLatencies: number[] | null): Promise<Publisher[]> {
  return Promise.all(Array.from({ length: req.publishers }, async (_, index) => {
    const tpl = publishTemplate(`${req.topicPrefix}/p${index}`, PAYLOAD_BYTES)
    const pub = { index, tpl, nextId: 1, sent: 0, acked: 0, sentAt: ackLatencies === null ? null : new Float64Array(65536) } as Publisher
    pub.onAck = () => onAck(pub)
    pub.conn = await rawConnect({
      port: req.port,
      clientId: `bench-${req.tag}-p${index}`,
      clean: true,
      onPacket: (p) => {
        if (p.type !== PacketType.PUBACK) return
        if (ackLatencies !== null && pub.sentAt !== null && p.body.length >= 2) ackLatencies.push(performance.now() - pub.sentAt[p.body.readUInt16BE(0)]!)
        pub.acked++
        pub.onAck()
      },
    })
    return pub
  }))
}

function packet(pub: Publisher, tag: number): Buffer {
  const id = pub.nextId
  pub.nextId = id === 65535 ? 1 : id + 1
  if (pub.sentAt !== null) pub.sentAt[id] = performance.now()
  const buf = pub.tpl.make(id)
  fillPayload(buf, pub.tpl.payloadAt)
  writePayload(buf, pub.tpl.payloadAt, tag, pub.index, pub.sent, process.hrtime.bigint())
  pub.sent++
  return buf
}

export async function runLoad(req: LoadRequest): Promise<LoadResult> {
  const total = req.kind === 'burst' ? req.publishers * req.events : req.total
  let ackedAll = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((r) => { done = r })
  const pending = new Map<Publisher, Buffer[]>()
  let flushQueued = false
  const flush = (): void => {
    flushQueued = false
    for (const [pub, bufs] of pending) pub.conn.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs))
    pending.clear()
  }
  const queue = (pub: Publisher, buf: Buffer): void => {
    const list = pending.get(pub)
    if (list) list.push(buf)
    else pending.set(pub, [buf])
    if (!flushQueued) {
      flushQueued = true
      queueMicrotask(flush)
    }
  }

  const ackLatencies: number[] | null = req.kind === 'paced' ? [] : null
  const pubs = await openPublishers(req, (pub) => {
    ackedAll++
    if (ackedAll === total) done()
    if (req.kind === 'burst' && pub.sent < req.events) queue(pub, packet(pub, req.tag))
  }, ackLatencies)

  const elu0 = performance.eventLoopUtilization()
  const startedAtNs = process.hrtime.bigint()
  const t0 = performance.now()
  let maxLagMs = 0
  let timer: NodeJS.Timeout | null = null
  if (req.kind === 'burst') {
    for (const pub of pubs) {
      for (let i = 0; i < Math.min(req.inflight, req.events); i++) queue(pub, packet(pub, req.tag))
    }
  } else {
    let sent = 0
    let rr = 0
    const tick = (): void => {
      const now = performance.now()
      const due = Math.min(req.total, Math.floor(((now - t0) / 1000) * req.rate))
      if (due > sent) maxLagMs = Math.max(maxLagMs, now - t0 - (sent / req.rate) * 1000)
      while (sent < due) {
        const pub = pubs[rr]!
        rr = (rr + 1) % pubs.length
        queue(pub, packet(pub, req.tag))
        sent++
      }
      if (sent < req.total) timer = setTimeout(tick, 1)
    }
    tick()
  }

  let error: string | undefined
  const timeout = new Promise<void>((r) => {
    const t = setTimeout(() => { error = `timed out after ${req.timeoutMs} ms: ${ackedAll}/${total} acked`; r() }, req.timeoutMs)
    void finished.then(() => clearTimeout(t))
  })
  let settled = false
  const closedEarly = Promise.race(pubs.map((p) => p.conn.closed.then(() => {
    if (!settled) error ??= `publisher ${p.index}: connection closed by the broker after ${p.acked} PUBACKs`
  })))
  await Promise.race([finished, timeout, closedEarly])
  settled = true
  const ackedAtNs = process.hrtime.bigint()
  const elapsedMs = performance.now() - t0
  if (timer !== null) clearTimeout(timer)
  const elu = performance.eventLoopUtilization(elu0).utilization
  await Promise.all(pubs.map((p) => p.conn.close()))
  const result: LoadResult = {
    sent: pubs.reduce((s, p) => s + p.sent, 0),
    acked: ackedAll,
    elapsedMs,
    startedAtNs: startedAtNs.toString(),
    ackedAtNs: ackedAtNs.toString(),
    elu,
    maxLagMs,
  }
  if (ackLatencies !== null && ackLatencies.length > 0) {
    ackLatencies.sort((a, b) => a - b)
    result.pubackP50Ms = ackLatencies[Math.floor(ackLatencies.length * 0.5)]!
    result.pubackP99Ms = ackLatencies[Math.min(ackLatencies.length - 1, Math.floor(ackLatencies.length * 0.99))]!
  }
  if (error !== undefined) result.error = error
  return result
}
