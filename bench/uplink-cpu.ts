/**
 * The uplink's own CPU per event, without the spool: the uplink (src/uplink)
 * runs in this process and drains events from an in-memory SpoolReader
 * (records built up front, so no LevelDB and no decoding) into a private
 * Mosquitto; the main thread's CPU time from start to the last PUBACK is
 * divided by the events. Plain and batched mode alternate. Nothing
 * subscribes upstream: Mosquitto acknowledges each publish (MQTT 5 reason
 * 0x10, no matching subscribers), which is all the uplink waits for.
 *
 *   npx tsx bench/uplink-cpu.ts [--events 200000] [--rounds 3] [--batch 500] [--window 64]
 *     [--upstream-max-inflight 0] [--paced EVENTS_PER_SEC] [--cpu-prof FILE]
 *
 * Default: a backlog, all records readable at once (a drain). With --paced,
 * the steady state instead: records become readable in groups every 2 ms
 * at that rate, each group announced like a committed append batch (the
 * uplink is caught up and reads after every wake-up).
 *
 * Mosquitto runs in its own process on the same cores; the figure is this
 * process's CPU time (process.cpuUsage: user + system, all threads, but the
 * uplink has no thread-pool work). Compare before and after in one run.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { SpoolReader, StoredEvent } from '../src/spool/types.js'
import { createUplink } from '../src/uplink/index.js'
import type { UplinkOptions } from '../src/uplink/types.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '500' },
    window: { type: 'string', default: '64' },
    'upstream-max-inflight': { type: 'string', default: '0' },
    /** Steady state: this many events per second become readable, in groups every 2 ms. */
    paced: { type: 'string' },
    /** Write a V8 CPU profile of the last plain round to this file. */
    'cpu-prof': { type: 'string' },
  },
})
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)

const payload = Buffer.alloc(100, 0x61)
const records: StoredEvent[] = Array.from({ length: EVENTS }, (_, seq) => ({
  seq, id: `gw-1-${seq}`, clientId: `pub-${seq % 10}`, topic: `bench/pub-${seq % 10}`, payload,
  qos: 1, retain: false, acceptedAt: 1_700_000_000_000 + seq,
}))

/** A SpoolReader over the records above: reads are slices, acks are counted. */
function memorySpool(onDone: () => void): SpoolReader & { acked: number; stop(): void } {
  let acked = 0
  const listeners = new Set<() => void>()
  const paced = values.paced === undefined ? 0 : Number(values.paced)
  // Readable so far: all of them for a drain, a growing prefix when paced.
  let visible = paced > 0 ? 0 : EVENTS
  let timer: NodeJS.Timeout | null = null
  if (paced > 0) {
    const t0 = performance.now()
    timer = setInterval(() => {
      const next = Math.min(EVENTS, Math.floor(((performance.now() - t0) / 1000) * paced))
      if (next === visible) return
      visible = next
      for (const l of listeners) l()
      if (visible === EVENTS && timer !== null) clearInterval(timer)
    }, 2)
  }
  return {
    get acked() { return acked },
    stop() { if (timer !== null) clearInterval(timer) },
    async readAfter(afterSeq, limit) {
      return records.slice(afterSeq + 1, Math.min(visible, afterSeq + 1 + limit))
    },
    ack() {
      if (++acked === EVENTS) onDone()
    },
    ackMany(batch) {
      acked += batch.length
      if (acked === EVENTS) onDone()
    },
    async noteAttempt() {},
    async reject() { throw new Error('no event is refused in this bench') },
    onAppend(listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    stats() {
      return { pending: EVENTS - acked, headSeq: null, nextSeq: EVENTS, appended: EVENTS, acked, rejected: 0 }
    },
  }
}

function options(url: string, batch: number): UplinkOptions {
  return {
    url, protocolVersion: 5, clientId: `uplink-cpu-${process.pid}`, username: null, password: null, clean: true,
    keepaliveSec: 30, connectTimeoutMs: 10_000, topicTemplate: 'outpost/{gatewayId}/{topic}', qos: 1,
    window: Number(values.window), envelope: 'auto',
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0 },
    ackTimeoutMs: 30_000, rejected: { maxAttempts: 5, retryDelayMs: 1000 }, tls: null,
    batch: { maxEvents: batch, maxBytes: 131_072, lingerMs: 20, window: Number(values.window), topic: 'outpost/{gatewayId}/batch' },
    rateLimit: { eventsPerSec: 0, bytesPerSec: 0 }, historicalAfterMs: null, poisonAfterDrops: 3,
  }
}

type Mode = 'plain' | 'batched'

async function round(url: string, mode: Mode, profile: Session | null): Promise<{ cpuUsPerEvent: number; userUsPerEvent: number; perSec: number }> {
  let done!: () => void
  const finished = new Promise<void>((resolve) => { done = resolve })
  const spool = memorySpool(() => done())
  // Paced: the clock starts with the spool, so the uplink connects while the first records come.
  const uplink = createUplink({
    options: options(url, mode === 'batched' ? Number(values.batch) : 0),
    gatewayId: 'gw', spool, log: pino({ level: 'warn' }),
  })
  const connected = new Promise<void>((resolve) => uplink.onStatus((s) => { if (s === 'connected') resolve() }))
  if (profile !== null) await profile.post('Profiler.start')
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  uplink.start()
  await connected
  await finished
  const cpu = process.cpuUsage(cpu0)
  const sec = (performance.now() - t0) / 1000
  if (profile !== null) {
    const { profile: p } = await profile.post('Profiler.stop')
    writeFileSync(values['cpu-prof']!, JSON.stringify(p))
  }
  spool.stop()
  await uplink.stop()
  return { cpuUsPerEvent: (cpu.user + cpu.system) / EVENTS, userUsPerEvent: cpu.user / EVENTS, perSec: EVENTS / sec }
}

const cloud = await startMosquitto({ extraConfig: [`max_inflight_messages ${Number(values['upstream-max-inflight'])}`] })
let session: Session | null = null
if (values['cpu-prof'] !== undefined) {
  session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 100 })
}
const results: Record<Mode, number[]> = { plain: [], batched: [] }
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ['plain', 'batched'] as const) {
      const r = await round(cloud.url, mode, mode === 'plain' && i === ROUNDS - 1 ? session : null)
      results[mode].push(r.cpuUsPerEvent)
      console.log(`round ${i + 1} ${mode}: ${r.cpuUsPerEvent.toFixed(2)} µs CPU per event (user ${r.userUsPerEvent.toFixed(2)}), ${r.perSec.toFixed(0)} events/s`)
    }
  }
} finally {
  await cloud.stop()
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`median CPU per event: plain ${median(results.plain).toFixed(2)} µs, batched ${median(results.batched).toFixed(2)} µs`)
