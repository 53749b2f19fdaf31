/**
 * `outpost consume` end to end: a private Mosquitto, the consumer as a child
 * process, N events published QoS 1 in each upstream format; measures the
 * time until the consumer has printed them all, with and without --state.
 *
 *   npm run build && npx tsx bench/consume-throughput.ts [--events 5000] [--batch 100]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'
import { encodeBatch } from '../src/wire/batch-codec.js'
import { startConsumer } from '../test/helpers/consumer-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const { values } = parseArgs({ options: { events: { type: 'string', default: '5000' }, batch: { type: 'string', default: '100' } } })
const N = Number(values.events)
const B = Number(values.batch)
const payload = Buffer.alloc(100, 0x61)

const broker = await startMosquitto()
const dir = await mkdtemp(join(tmpdir(), 'outpost-consume-bench-'))
const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-pub' })
let run = 0

async function measure(label: string, withState: boolean, publish: (gw: string) => Promise<void>): Promise<void> {
  run++
  const args = ['--url', broker.url, '--topic', `outpost/r${run}/#`, '--client-id', `bench-${run}`, '--stats-every', '0', '--payload', 'base64']
  if (withState) args.push('--state', join(dir, `seen-${run}.state`))
  const consumer = startConsumer(args)
  await consumer.waitUntil('subscribed', () => consumer.logs.some((l) => l.msg === 'subscribed'))
  const t0 = performance.now()
  await publish(`r${run}`)
  await consumer.waitUntil('all printed', () => consumer.lines.length >= N, 600_000)
  const s = (performance.now() - t0) / 1000
  console.log(`${label.padEnd(40)} ${Math.round(N / s).toLocaleString('en-US').padStart(8)} events/s  (${N} events in ${s.toFixed(1)} s)`)
  await consumer.stop()
}

const perEvent = (gw: string) => Promise.all(Array.from({ length: N }, (_, i) => pub.publishAsync(`outpost/${gw}/dev/t`, payload, { qos: 1, properties: { userProperties: { 'outpost-id': `${gw}-1-${i}`, 'outpost-ts': '1700000000000' } } }))).then(() => {})
const batched = (gw: string) => {
  const sends: Array<Promise<unknown>> = []
  for (let i = 0; i < N; i += B) {
    const events = Array.from({ length: Math.min(B, N - i) }, (_, k) => ({ id: `${gw}-1-${i + k}`, clientId: 'd', topic: 'dev/t', acceptedAt: 1_700_000_000_000, qos: 1 as const, retain: false, payload, historical: false }))
    sends.push(pub.publishAsync(`outpost/${gw}/batch`, encodeBatch(gw, events), { qos: 1 }))
  }
  return Promise.all(sends).then(() => {})
}

try {
  await measure('one event per message, memory only', false, perEvent)
  await measure('one event per message, --state', true, perEvent)
  await measure(`batches of ${B}, memory only`, false, batched)
  await measure(`batches of ${B}, --state`, true, batched)
} finally {
  await pub.endAsync()
  await broker.stop()
  await rm(dir, { recursive: true, force: true })
}
