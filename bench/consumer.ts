/**
 * The consumer side's pure costs, single thread: batch encode and decode
 * (events/s), and the deduplicator's accept() without and with a state file
 * (fsync per call, as `outpost consume` does per message).
 *
 *   npx tsx bench/consumer.ts [--events 200000] [--batch 500] [--payload 100] [--synced-calls 500]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDeduplicator } from '../src/consumer/deduplicator.js'
import { decodeBatch, encodeBatch, type BatchEvent } from '../src/wire/batch-codec.js'

const { values } = parseArgs({
  options: {
    'events': { type: 'string', default: '200000' },
    'batch': { type: 'string', default: '500' },
    'payload': { type: 'string', default: '100' },
    'synced-calls': { type: 'string', default: '500' },
  },
})
const N = Number(values.events)
const B = Number(values.batch)
const payload = Buffer.alloc(Number(values.payload), 0x61)
const SYNCED = Number(values['synced-calls'])

const events: BatchEvent[] = Array.from({ length: N }, (_, i) => ({
  id: `bench-1-${i}`, clientId: `dev-${i % 10}`, topic: `sensors/${i % 10}/t`, acceptedAt: 1_700_000_000_000 + i,
  qos: 1, retain: false, payload, meta: i % 2 === 0 ? { 'device-type': 'meter' } : undefined, historical: false,
}))

function rate(label: string, count: number, ms: number, extra = ''): void {
  console.log(`${label.padEnd(34)} ${Math.round(count / (ms / 1000)).toLocaleString('en-US').padStart(12)} events/s  ${extra}`)
}

let t0 = performance.now()
const batches: Buffer[] = []
for (let i = 0; i < N; i += B) batches.push(encodeBatch('bench', events.slice(i, i + B)))
rate(`encodeBatch (${B}/batch)`, N, performance.now() - t0, `${(batches.reduce((n, b) => n + b.length, 0) / N).toFixed(1)} bytes/event`)

t0 = performance.now()
let decoded = 0
for (const b of batches) decoded += decodeBatch(b).events.length
rate(`decodeBatch (${B}/batch)`, decoded, performance.now() - t0)

const ids = events.map((e) => ({ id: e.id }))
const mem = openDeduplicator()
t0 = performance.now()
for (let i = 0; i < N; i += B) mem.accept(ids.slice(i, i + B))
for (let i = 0; i < N; i += B) mem.accept(ids.slice(i, i + B))
rate('accept, memory only (half dups)', 2 * N, performance.now() - t0)

const dir = await mkdtemp(join(tmpdir(), 'outpost-consumer-bench-'))
try {
  const synced = openDeduplicator({ stateFile: join(dir, 'seen.state') })
  t0 = performance.now()
  for (let i = 0; i < SYNCED; i++) synced.accept([ids[i] as { id: string }])
  const ms = performance.now() - t0
  console.log(`${'accept, state file, 1 id/call'.padEnd(34)} ${Math.round(SYNCED / (ms / 1000)).toLocaleString('en-US').padStart(12)} calls/s   (fdatasync each)`)
  synced.close()
} finally {
  await rm(dir, { recursive: true, force: true })
}
