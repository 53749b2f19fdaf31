/**
 * Core throughput: 10 publishers x 10,000 QoS 1 events of 100 bytes through
 * the real gateway process (fsync before every PUBACK) to a Mosquitto
 * upstream, end to end. Writes docs/bench-core.md.
 *
 *   npm run build && npx tsx bench/core-throughput.ts [--publishers 10] [--events 10000] [--rounds 3]
 *
 * Load generator, collector, gateway and Mosquitto share this machine's cores.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { mosquittoVersion } from './harness/mosquitto.js'
import { publishQos1 } from './harness/paced-publisher.js'
import { gatewayProcess } from '../test/helpers/gateway-process.js'
import { collect, startMosquitto } from '../test/helpers/mosquitto.js'

const { values } = parseArgs({
  options: {
    publishers: { type: 'string', default: '10' },
    events: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    inflight: { type: 'string', default: '100' },
    out: { type: 'string', default: 'docs/bench-core.md' },
    /** Write V8 CPU profiles of the gateway process into this folder. */
    'cpu-prof': { type: 'string' },
  },
})
const PUBLISHERS = Number(values.publishers)
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const INFLIGHT = Number(values.inflight)
const TOTAL = PUBLISHERS * EVENTS

interface Round { ackedPerSec: number; deliveredPerSec: number; ackSec: number; deliverSec: number }

function publisher(url: string, id: string): Promise<void> {
  const payload = Buffer.alloc(100, 0x61)
  return publishQos1({ url, clientId: id, topic: `bench/${id}`, count: EVENTS, inflight: INFLIGHT, payload: () => payload })
}

async function round(): Promise<Round> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-'))
  await mkdir(join(dir, 'cloud'))
  await mkdir(join(dir, 'gw'))
  const cloud = await startMosquitto({ dir: join(dir, 'cloud') })
  const collector = await collect(cloud.url, 'outpost/gw/#')
  const profDir = values['cpu-prof']
  const gw = await gatewayProcess({
    dir: join(dir, 'gw'), upstreamUrl: cloud.url,
    ...(profDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}),
  })
  await gw.start()
  try {
    const t0 = performance.now()
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => publisher(gw.url, `pub-${i}`)))
    const tAcked = performance.now()
    await collector.waitForCount(TOTAL, 300_000)
    const tDelivered = performance.now()
    return {
      ackSec: (tAcked - t0) / 1000,
      deliverSec: (tDelivered - t0) / 1000,
      ackedPerSec: TOTAL / ((tAcked - t0) / 1000),
      deliveredPerSec: TOTAL / ((tDelivered - t0) / 1000),
    }
  } finally {
    await gw.stop()
    await collector.close()
    await cloud.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const rounds: Round[] = []
for (let i = 0; i < ROUNDS; i++) {
  const r = await round()
  rounds.push(r)
  console.log(`round ${i + 1}: acked ${r.ackedPerSec.toFixed(0)}/s (${r.ackSec.toFixed(2)} s), delivered ${r.deliveredPerSec.toFixed(0)}/s (${r.deliverSec.toFixed(2)} s)`)
}
const mosquittoVersionLine = mosquittoVersion()
const doc = `# Core throughput

Measured by \`npm run bench:core\` (\`bench/core-throughput.ts\`), ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${mosquittoVersionLine}.
- Setup: the built gateway as a child process (default spool settings: group commit at the end of the event-loop turn,
  fsync before every PUBACK), a private Mosquitto as the upstream (MQTT 5), ${PUBLISHERS} MQTT.js 3.1.1
  publishers with up to ${INFLIGHT} QoS 1 publishes in flight each, ${EVENTS.toLocaleString('en')} events of 100 bytes per
  publisher (${TOTAL.toLocaleString('en')} in all), one MQTT 5 subscriber on the upstream counting arrivals.
  Everything shares the same cores.
- "acked/s": events PUBACKed by the gateway per second. "delivered/s": events received by the cloud
  subscriber per second, from the first publish to the last arrival.

| round | acked/s | delivered/s | all acked after | all delivered after |
|---|---|---|---|---|
${rounds.map((r, i) => `| ${i + 1} | ${r.ackedPerSec.toFixed(0)} | ${r.deliveredPerSec.toFixed(0)} | ${r.ackSec.toFixed(2)} s | ${r.deliverSec.toFixed(2)} s |`).join('\n')}
| **median** | **${median(rounds.map((r) => r.ackedPerSec)).toFixed(0)}** | **${median(rounds.map((r) => r.deliveredPerSec)).toFixed(0)}** | | |
`
await writeFile(values.out!, doc)
console.log(`wrote ${values.out}`)

