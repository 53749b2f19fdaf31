/**
 * Spool append rate on its own: N concurrent producers, each waiting for its
 * append to be fsync'd before the next (like a device with one QoS 1 publish
 * in flight), plus the read-and-ack drain rate afterwards.
 *
 *   npx tsx bench/spool-append.ts [--producers 10] [--events 10000] [--inflight 8]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { openSpool } from '../src/spool/spool.js'

const { values } = parseArgs({
  options: {
    producers: { type: 'string', default: '10' },
    events: { type: 'string', default: '10000' },
    inflight: { type: 'string', default: '8' },
  },
})
const P = Number(values.producers)
const N = Number(values.events)
const INFLIGHT = Number(values.inflight)

const dir = await mkdtemp(join(tmpdir(), 'outpost-spool-bench-'))
const spool = await openSpool({ dir, gatewayId: 'bench', log: pino({ level: 'warn' }) })
const payload = Buffer.alloc(100, 0x61)
let messageId = 0

async function producer(p: number): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < N) {
      next++
      messageId = (messageId % 65535) + 1
      await spool.append({ clientId: `dev-${p}`, topic: `bench/dev-${p}`, payload, qos: 1, retain: false }, { messageId, retransmit: false })
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, lane))
}

const cpu0 = process.cpuUsage()
const t0 = performance.now()
await Promise.all(Array.from({ length: P }, (_, p) => producer(p)))
const t1 = performance.now()
const cpu1 = process.cpuUsage(cpu0)
console.log(`append: ${(P * N / ((t1 - t0) / 1000)).toFixed(0)} events/s, ${((cpu1.user + cpu1.system) / (P * N)).toFixed(1)} µs CPU per event`)

let read = 0
let cursor = -1
const t2 = performance.now()
for (;;) {
  const batch = await spool.readAfter(cursor, 256)
  if (batch.length === 0) break
  for (const e of batch) spool.ack(e.seq)
  cursor = batch.at(-1)!.seq
  read += batch.length
}
const t3 = performance.now()
console.log(`read+ack: ${(read / ((t3 - t2) / 1000)).toFixed(0)} events/s (${read} events)`)
await spool.close()
await rm(dir, { recursive: true, force: true })
