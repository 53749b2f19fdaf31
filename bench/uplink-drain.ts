/**
 * Backlog drain: the upstream is down while devices publish a backlog into
 * the gateway's spool; then it comes back and the gateway drains the backlog.
 * Plain mode (one upstream message per event) and batched mode
 * (upstream.batch.maxEvents) in the same run, alternating. Writes
 * docs/bench-uplink.md.
 *
 *   npm run build && npx tsx bench/uplink-drain.ts [--events 50000] [--rounds 3] [--batch 500]
 *     [--upstream-max-inflight N] [--window N] [--cpu-prof DIR] [--out docs/bench-uplink.md]
 *     [--modes plain,batched] [--threads] [--compact-every-acks N]
 *
 * The built gateway runs as a child process with its default settings
 * (default window, capped by Mosquitto's Receive Maximum of 20); the upstream is a
 * private Mosquitto with persistence, stopped while the backlog is written and
 * started again on the same port; a counting subscriber (MQTT 5, persistent
 * session, QoS 1) decodes batches and counts distinct event ids. Everything
 * shares this machine's cores.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { decodeBatch, isBatch } from '../src/wire/batch-codec.js'
import { mosquittoVersion } from './harness/mosquitto.js'
import { publishQos1 } from './harness/paced-publisher.js'
import { gatewayProcess } from '../test/helpers/gateway-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    publishers: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '500' },
    out: { type: 'string', default: 'docs/bench-uplink.md' },
    /** Sets Mosquitto's max_inflight_messages on the upstream (its Receive Maximum; default 20, 0 = none). */
    'upstream-max-inflight': { type: 'string' },
    /** Sets the gateway's upstream.window (default: the config default, 1024); batched mode uses upstream.batch.window (16). */
    window: { type: 'string' },
    /** Write V8 CPU profiles of the gateway process into this folder. */
    'cpu-prof': { type: 'string' },
    /** Also print the gateway's drain CPU per thread name (main, libuv workers, LevelDB, V8 helpers). */
    threads: { type: 'boolean', default: false },
    /** Sets the gateway's spool.compactEveryAcks (default: the config default). */
    'compact-every-acks': { type: 'string' },
    /** Which modes to run, in this order each round (default plain,batched; the ratio needs both). */
    modes: { type: 'string', default: 'plain,batched' },
  },
})
const EVENTS = Number(values.events)
const PUBLISHERS = Number(values.publishers)
const ROUNDS = Number(values.rounds)
const BATCH = Number(values.batch)
const PER_PUBLISHER = Math.ceil(EVENTS / PUBLISHERS)
const TOTAL = PER_PUBLISHER * PUBLISHERS
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

type Mode = 'plain' | 'batched'
interface Result {
  mode: Mode
  /** Events per second from the first arrival to the last. */
  drainPerSec: number
  drainSec: number
  /** From the upstream's restart to the first arrival (reconnect backoff included). */
  firstAfterSec: number
  messages: number
  duplicates: number
  /** Gateway process CPU time (user + system) per 1000 events drained. */
  cpuMsPer1000: number | null
  /** The same for the main (JavaScript) thread alone; the rest is libuv's pool (LevelDB) and V8's helpers. */
  mainCpuMsPer1000: number | null
}

/** A persistent-session subscriber that counts distinct event ids, plain or batched. */
async function counter(url: string): Promise<{ client: MqttClient; seen: Set<string>; stats: { messages: number; duplicates: number; first: number; last: number } }> {
  const client = mqtt.connect(url, {
    protocolVersion: 5, clientId: `drain-counter-${process.pid}`, clean: false, reconnectPeriod: 100,
    properties: { sessionExpiryInterval: 3600 },
  })
  client.on('error', () => { /* reconnects */ })
  const seen = new Set<string>()
  const stats = { messages: 0, duplicates: 0, first: 0, last: 0 }
  const note = (id: string): void => {
    if (seen.has(id)) stats.duplicates++
    else seen.add(id)
  }
  client.on('message', (_topic, payload, packet) => {
    const t = performance.now()
    if (stats.first === 0) stats.first = t
    stats.last = t
    stats.messages++
    if (isBatch(payload)) {
      for (const e of decodeBatch(payload).events) note(e.id)
    } else {
      note(String(packet.properties?.userProperties?.['outpost-id']))
    }
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => client.subscribe('outpost/gw/#', { qos: 1 }, (err) => (err ? reject(err) : resolve())))
  })
  return { client, seen, stats }
}

function publisher(url: string, id: string, count: number): Promise<void> {
  const payload = Buffer.alloc(100, 0x61)
  return publishQos1({ url, clientId: id, topic: `bench/${id}`, count, inflight: 100, payload: () => payload })
}

async function round(mode: Mode): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-drain-'))
  await mkdir(join(dir, 'cloud'))
  await mkdir(join(dir, 'gw'))
  const inflight = values['upstream-max-inflight']
  const cloud = await startMosquitto({
    dir: join(dir, 'cloud'), persistence: true,
    ...(inflight === undefined ? {} : { extraConfig: [`max_inflight_messages ${Number(inflight)}`] }),
  })
  const sub = await counter(cloud.url)
  await cloud.stop()
  const gw = await gatewayProcess({
    dir: join(dir, 'gw'), upstreamUrl: cloud.url,
    extraYaml: (values.window === undefined ? '' : `  window: ${Number(values.window)}\n`) +
      (mode === 'batched' ? `  batch:\n    maxEvents: ${BATCH}\n` : '') +
      (values['compact-every-acks'] === undefined ? '' : `spool:\n  compactEveryAcks: ${Number(values['compact-every-acks'])}\n`),
    ...(values['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}/${mode}`] } : {}),
  })
  await gw.start()
  try {
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => publisher(gw.url, `pub-${i}`, PER_PUBLISHER)))
    const cpu0 = cpuMs(gw.pid)
    const main0 = cpuMs(gw.pid, gw.pid)
    const threads0 = values.threads ? threadCpuMs(gw.pid) : null
    const t0 = performance.now()
    await cloud.restart()
    const deadline = Date.now() + 300_000
    while (sub.seen.size < TOTAL) {
      if (Date.now() > deadline) throw new Error(`${mode}: only ${sub.seen.size} of ${TOTAL} arrived`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const drainSec = (sub.stats.last - sub.stats.first) / 1000
    const cpu1 = cpuMs(gw.pid)
    const main1 = cpuMs(gw.pid, gw.pid)
    if (threads0 !== null) {
      const split = [...threadCpuMs(gw.pid)].map(([name, ms]): [string, number] => [name, ((ms - (threads0.get(name) ?? 0)) / TOTAL) * 1000])
        .filter(([, ms]) => ms >= 0.01).sort((a, b) => b[1] - a[1]).map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
      console.log(`${mode} CPU ms / 1000 events by thread: ${split.join(', ')}`)
    }
    return {
      cpuMsPer1000: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) / TOTAL) * 1000,
      mainCpuMsPer1000: main0 === null || main1 === null ? null : ((main1 - main0) / TOTAL) * 1000,
      mode,
      drainSec,
      drainPerSec: TOTAL / drainSec,
      firstAfterSec: (sub.stats.first - t0) / 1000,
      messages: sub.stats.messages,
      duplicates: sub.stats.duplicates,
    }
  } finally {
    await gw.stop()
    await sub.client.endAsync(true)
    await cloud.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const MODES = values.modes.split(',').map((m) => m.trim())
if (new Set(MODES).size !== MODES.length || MODES.some((m) => m !== 'plain' && m !== 'batched')) {
  throw new Error(`--modes takes plain, batched or both (comma-separated), got '${values.modes}'`)
}
const results: Result[] = []
for (let i = 0; i < ROUNDS; i++) {
  for (const mode of MODES as Mode[]) {
    const r = await round(mode)
    results.push(r)
    console.log(`round ${i + 1} ${mode}: ${r.drainPerSec.toFixed(0)} events/s (${r.drainSec.toFixed(2)} s, ${r.messages} messages, first after ${r.firstAfterSec.toFixed(2)} s, ${r.duplicates} duplicates, gateway CPU ${r.cpuMsPer1000?.toFixed(1) ?? '?'} ms per 1000 events, main thread ${r.mainCpuMsPer1000?.toFixed(1) ?? '?'})`)
  }
}
const med = (mode: Mode): number => median(results.filter((r) => r.mode === mode).map((r) => r.drainPerSec))
const medCpu = (mode: Mode, main = false): string => {
  const xs = results.filter((r) => r.mode === mode).map((r) => (main ? r.mainCpuMsPer1000 : r.cpuMsPer1000))
  return xs.every((x) => x !== null) ? median(xs as number[]).toFixed(1) : '?'
}
if (MODES.length < 2) {
  // One mode: its medians only; the document is about the ratio.
  const mode = MODES[0] as Mode
  console.log(`median ${mode} ${med(mode).toFixed(0)}/s, gateway CPU ${medCpu(mode)} ms per 1000 events (main thread ${medCpu(mode, true)})`)
  process.exit(0)
}
const ratio = med('batched') / med('plain')
console.log(`median plain ${med('plain').toFixed(0)}/s, batched ${med('batched').toFixed(0)}/s: ${ratio.toFixed(1)}x`)

const doc = `# Uplink backlog drain

Measured by \`npx tsx bench/uplink-drain.ts ${process.argv.slice(2).join(' ')}\` (after \`npm run build\`), ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${mosquittoVersion()}.
- Setup: the built gateway as a child process with default settings (\`upstream.window\` ${values.window ?? 64}, capped by
  Mosquitto's Receive Maximum: ${values['upstream-max-inflight'] === undefined ? '20, its default' : `\`max_inflight_messages ${values['upstream-max-inflight']}\``}), MQTT 5 upstream. With the upstream stopped, ${PUBLISHERS} devices
  publish ${TOTAL.toLocaleString('en')} QoS 1 events of 100 bytes (all PUBACKed, so all in the spool); then the
  upstream Mosquitto starts again on the same port and the gateway drains the backlog. A subscriber
  with a persistent session (QoS 1) counts distinct event ids, decoding batches.
- "drain": events from the first arrival to the last, per second. "first after": from the upstream's
  restart to the first arrival (the gateway's reconnect backoff, up to 1 s here).
- "gateway CPU": user + system CPU time of the gateway process from the upstream's restart to the
  last arrival, per 1000 events: what the drain costs, less sensitive than rates to other load on
  the machine. "of which main thread": the JavaScript thread alone (the rest is LevelDB's work on
  libuv's thread pool, and V8's helper threads).
- Plain: one upstream message per event. Batched: \`upstream.batch.maxEvents: ${BATCH}\` (other batch
  settings default). Modes alternate within each round.

| round | mode | drain events/s | drain time | upstream messages | first after | duplicates | gateway CPU ms / 1000 events | of which main thread |
|---|---|---|---|---|---|---|---|---|
${results.map((r, i) => `| ${Math.floor(i / 2) + 1} | ${r.mode} | ${r.drainPerSec.toFixed(0)} | ${r.drainSec.toFixed(2)} s | ${r.messages} | ${r.firstAfterSec.toFixed(2)} s | ${r.duplicates} | ${r.cpuMsPer1000?.toFixed(1) ?? '?'} | ${r.mainCpuMsPer1000?.toFixed(1) ?? '?'} |`).join('\n')}
| **median** | plain | **${med('plain').toFixed(0)}** | | | | | **${medCpu('plain')}** | **${medCpu('plain', true)}** |
| **median** | batched | **${med('batched').toFixed(0)}** | | | | | **${medCpu('batched')}** | **${medCpu('batched', true)}** |

Batched drains **${ratio.toFixed(1)}x** the events per second of plain mode in this run, at
**${(Number(medCpu('plain')) / Number(medCpu('batched'))).toFixed(1)}x** less gateway CPU per event.

Reading the numbers: plain mode never has more than the upstream's Receive Maximum (20 on a default
Mosquitto) publishes in flight, so it drains at most 20 events per round trip through the gateway's
event loop. A batch takes one of those 20 slots for up to \`maxEvents\` events, so batched mode is
bound by CPU instead: reading and decoding the spool, deleting acknowledged records, encoding CBOR.
On a machine shared with other work the rates swing between rounds; compare the CPU column.
`
await writeFile(values.out!, doc)
console.log(`wrote ${values.out}`)

/** CPU time (user + system) a process (or one of its threads) has used, in ms, from /proc; null where there is none. */
/** CPU ms per thread ('main', or name/tid: Node's helper threads share one name), for --threads. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = tid === String(pid) ? 'main' : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()}/${tid}`
      out.set(name, cpuMs(pid, Number(tid)) ?? 0)
    }
  } catch {
    // The process is gone: what was read so far.
  }
  return out
}

function cpuMs(pid: number, tid?: number): number | null {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1000
  } catch {
    return null
  }
}

