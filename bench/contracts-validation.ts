/**
 * Device contract validation cost: the same load through the real gateway
 * process with contracts off (`contracts.dir: null`) and on (the shipped
 * devices/), rounds interleaved in one run, to a Mosquitto upstream. Also the
 * checker alone, in process (CPU per event). Writes docs/bench-contracts.md.
 *
 *   npm run build && npx tsx bench/contracts-validation.ts [--publishers 10] [--events 5000] [--rounds 5]
 *
 * The publishers are env-sensor devices sending valid JSON readings (about
 * 100 bytes). The bench copy of the contracts raises the profiles' maxRate,
 * which would otherwise (by design) dead-letter a benchmark's flood: the
 * rate limiter still runs on every event.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createChecker } from '../src/contracts/checker.js'
import { loadContracts } from '../src/contracts/loader.js'
import { mosquittoVersion } from './harness/mosquitto.js'
import { publishQos1 } from './harness/paced-publisher.js'
import { gatewayProcess } from '../test/helpers/gateway-process.js'
import { collect, startMosquitto } from '../test/helpers/mosquitto.js'

const { values } = parseArgs({
  options: {
    publishers: { type: 'string', default: '10' },
    events: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '5' },
    inflight: { type: 'string', default: '100' },
    out: { type: 'string', default: 'docs/bench-contracts.md' },
  },
})
const PUBLISHERS = Number(values.publishers)
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const INFLIGHT = Number(values.inflight)
const TOTAL = PUBLISHERS * EVENTS

const reading = (n: number): Buffer => Buffer.from(JSON.stringify({ ts: 1763900000 + n, seq: n, temperatureC: 21.5, humidityPct: 46.5, co2Ppm: 612, batteryPct: 88 }))

interface Round { mode: 'off' | 'on'; ackedPerSec: number; deliveredPerSec: number; cpuUsPerEvent: number }

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** CPU time (user + system) the process has used so far, in ms, from /proc: robust to other load on the machine. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}

function publisher(url: string, i: number): Promise<void> {
  return publishQos1({ url, clientId: `env-bench${i}`, topic: `env/bench${i}/telemetry`, count: EVENTS, inflight: INFLIGHT, payload: reading })
}

async function round(mode: 'off' | 'on', devices: string): Promise<Round> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-contracts-'))
  await mkdir(join(dir, 'cloud'))
  await mkdir(join(dir, 'gw'))
  // No queue limit for the collector: under load it can fall behind, and
  // Mosquitto's default (1000 queued) would drop what the gateway delivered.
  const cloud = await startMosquitto({ dir: join(dir, 'cloud'), extraConfig: ['max_queued_messages 0'] })
  const collector = await collect(cloud.url, '#')
  const gw = await gatewayProcess({
    dir: join(dir, 'gw'), upstreamUrl: cloud.url,
    extraYaml: mode === 'on' ? `contracts:\n  dir: ${devices}\n` : '',
  })
  await gw.start()
  try {
    const cpu0 = cpuMs(gw.pid)
    const t0 = performance.now()
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => publisher(gw.url, i)))
    const tAcked = performance.now()
    await collector.waitForCount(TOTAL, 300_000)
    const tDelivered = performance.now()
    const cpu = cpuMs(gw.pid) - cpu0
    if (mode === 'on' && !collector.messages[0]?.topic.startsWith('fleet/')) throw new Error('validation was not on: no contract upstream topic')
    return { mode, ackedPerSec: TOTAL / ((tAcked - t0) / 1000), deliveredPerSec: TOTAL / ((tDelivered - t0) / 1000), cpuUsPerEvent: (cpu * 1000) / TOTAL }
  } finally {
    await gw.stop()
    await collector.close()
    await cloud.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

/** The checker alone: microseconds of CPU (process.cpuUsage, not wall time) per valid event. */
function checkerAlone(devices: string): number {
  const checker = createChecker(loadContracts(devices), { gatewayId: 'gw' })
  const payloads = Array.from({ length: 1000 }, (_, i) => reading(i))
  const n = 200_000
  for (let i = 0; i < 20_000; i++) checker.check('env-bench1', 'env/bench1/telemetry', payloads[i % 1000]!)
  const clients = Array.from({ length: 10 }, (_, i) => `env-bench${i}`)
  const topics = Array.from({ length: 10 }, (_, i) => `env/bench${i}/telemetry`)
  const t0 = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    if (checker.check(clients[i % 10]!, topics[i % 10]!, payloads[i % 1000]!).kind !== 'valid') throw new Error('bench payload refused')
  }
  const used = process.cpuUsage(t0)
  return (used.user + used.system) / n
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const work = await mkdtemp(join(tmpdir(), 'outpost-bench-devices-'))
const devices = join(work, 'devices')
cpSync(new URL('../devices', import.meta.url), devices, { recursive: true })
for (const folder of ['env-sensor-v1', 'energy-meter-v1', 'door-lock-v1']) {
  const file = join(devices, folder, 'profile.yaml')
  writeFileSync(file, readFileSync(file, 'utf8').replace(/perSecond: \d+/, 'perSecond: 1000000').replace(/burst: \d+/, 'burst: 1000000'))
}

const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ')
const usPerCheck = checkerAlone(devices)
console.log(`checker alone: ${usPerCheck.toFixed(2)} us per event`)
const rounds: Round[] = []
for (let i = 0; i < ROUNDS; i++) {
  for (const mode of ['off', 'on'] as const) {
    const r = await round(mode, devices)
    rounds.push(r)
    console.log(`round ${i + 1} validation ${mode}: acked ${r.ackedPerSec.toFixed(0)}/s, delivered ${r.deliveredPerSec.toFixed(0)}/s, gateway CPU ${r.cpuUsPerEvent.toFixed(1)} us/event`)
  }
}
await rm(work, { recursive: true, force: true })

const med = (mode: 'off' | 'on', key: 'ackedPerSec' | 'deliveredPerSec' | 'cpuUsPerEvent'): number => median(rounds.filter((r) => r.mode === mode).map((r) => r[key]))
const ackRatio = med('on', 'ackedPerSec') / med('off', 'ackedPerSec')
const deliverRatio = med('on', 'deliveredPerSec') / med('off', 'deliveredPerSec')
const cpuRatio = med('off', 'cpuUsPerEvent') / med('on', 'cpuUsPerEvent')
console.log(`ratio on/off: acked ${ackRatio.toFixed(2)}, delivered ${deliverRatio.toFixed(2)}, CPU-bound throughput (CPU off/on) ${cpuRatio.toFixed(2)}`)

const doc = `# Contract validation throughput

Measured by \`npm run bench:contracts\` (\`bench/contracts-validation.ts\`), ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${mosquittoVersion()}.
- Setup: as \`bench/core-throughput.ts\`: the built gateway as a child process (fsync before every
  PUBACK), a private Mosquitto upstream (MQTT 5), ${PUBLISHERS} MQTT.js 3.1.1 publishers with up to ${INFLIGHT} QoS 1
  publishes in flight, ${EVENTS.toLocaleString('en')} events each (${TOTAL.toLocaleString('en')} in all). The publishers are
  env-sensor devices sending valid JSON readings of about ${reading(1).length} bytes on \`env/<id>/telemetry\`.
- "off": \`contracts.dir: null\`. "on": the shipped \`devices/\` (three contracts; the profiles' maxRate
  raised so the bench load is not rate-limited, the limiter still runs). With validation on, each event
  is matched to its channel, JSON-parsed, validated, and carries three metadata user properties and
  the profile's upstream topic. Rounds alternate off and on in one run; the table gives each round.
- "gateway CPU/event": user + system CPU time of the gateway process (from \`/proc\`) from the first
  publish to the last arrival, divided by the events. Unlike the rates it does not depend on what
  else runs on the machine, so on a shared machine it is the steadier figure; its ratio off/on is
  the throughput ratio when the gateway is the bottleneck.

| round | validation | acked/s | delivered/s | gateway CPU/event |
|---|---|---|---|---|
${rounds.map((r, i) => `| ${Math.floor(i / 2) + 1} | ${r.mode} | ${r.ackedPerSec.toFixed(0)} | ${r.deliveredPerSec.toFixed(0)} | ${r.cpuUsPerEvent.toFixed(1)} µs |`).join('\n')}
| **median** | off | **${med('off', 'ackedPerSec').toFixed(0)}** | **${med('off', 'deliveredPerSec').toFixed(0)}** | **${med('off', 'cpuUsPerEvent').toFixed(1)} µs** |
| **median** | **validation on** | **${med('on', 'ackedPerSec').toFixed(0)}** | **${med('on', 'deliveredPerSec').toFixed(0)}** | **${med('on', 'cpuUsPerEvent').toFixed(1)} µs** |
| **ratio on/off** | | **${ackRatio.toFixed(2)}** | **${deliverRatio.toFixed(2)}** | **${cpuRatio.toFixed(2)}** (CPU off/on) |

Load average when the run started: ${loadAtStart}. Requirement: throughput with validation on
>= 0.8x off.

The checker alone (in process, valid env-sensor readings, 10 clients): ${usPerCheck.toFixed(2)} µs of CPU per event.
`
await writeFile(values.out!, doc)
console.log(`wrote ${values.out}`)

