/**
 * How far down the edge's CPU per event can go in Node.js with Outpost's
 * storage library, on this machine: the throughput scenario's 10-publisher
 * run against three edges in the same run, interleaved over rounds:
 *
 * - the floor edge (bench/floor/edge.ts): fsync'd LevelDB batch before the
 *   PUBACK, one upstream MQTT 5 PUBLISH per event with Outpost's three user
 *   properties, a delete per cloud PUBACK, hand-written MQTT, nothing else;
 * - Outpost as shipped;
 * - the Mosquitto bridge.
 *
 * It answers one question for docs/performance.md: is issue 4's throughput
 * target (>= 1.0x the bridge with 10 publishers) within reach of a Node.js
 * edge that keeps the promise, or would even the floor miss it?
 *
 *   npx tsx bench/floor.ts [--rounds 3] [--events 100000] [--out FILE]
 *     [--kinds floor,outpost,mosquitto] [--base OTHER/dist/cli/main.js]
 *
 * `floor-aedes` (list it in --kinds) is the floor edge with aedes as its
 * device broker: the difference to `floor` is what aedes costs per event.
 * `--base` adds the kind `base`: Outpost from another tree's build, for an A/B
 * of two trees under the same load (list it in --kinds).
 * `--paced RATE` sends the events at RATE per second (all publishers
 * together) instead of as fast as the edge acknowledges. Below saturation the
 * uplink keeps up, the cores are not all busy, and the edge's CPU per event
 * varies far less between rounds than in a saturated burst: the measure for
 * an A/B of a change worth a microsecond or less.
 * Writes docs/benchmarks-floor.md by default.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../test/helpers/free-port.js'
import { createContext, type Edge } from './harness/context.js'
import { startGenerator } from './harness/generator.js'
import { machineInfo } from './harness/machine.js'
import { outpost, probeBatch, shippedLaunch } from './harness/outpost.js'
import { serverProcess } from './harness/process.js'
import { median } from './harness/stats.js'
import { startSubscriber } from './harness/subscriber.js'
import { measureEdge, type Run } from './scenarios/throughput.js'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    events: { type: 'string', default: '100000' },
    out: { type: 'string', default: 'docs/benchmarks-floor.md' },
    kinds: { type: 'string', default: 'floor,outpost,mosquitto' },
    base: { type: 'string' },
    paced: { type: 'string' },
  },
})
const rounds = Number(values.rounds)
const events = Number(values.events)
const paced = values.paced === undefined ? undefined : Number(values.paced)
if (paced !== undefined && !(paced > 0)) throw new Error(`--paced must be a positive rate, got ${values.paced}`)
const PUBLISHERS = 10
const EDGE_TS = fileURLToPath(new URL('./floor/edge.ts', import.meta.url))

type Kind = 'floor' | 'floor-aedes' | 'outpost' | 'mosquitto' | 'base'
const LABEL: Record<Kind, string> = {
  floor: 'Floor edge (Node.js)',
  'floor-aedes': 'Floor edge with aedes',
  outpost: 'Outpost',
  mosquitto: 'Mosquitto bridge',
  base: 'Outpost (--base build)',
}
const kinds = values.kinds.split(',') as Kind[]
for (const k of kinds) if (!(k in LABEL)) throw new Error(`unknown kind "${k}"; known: ${Object.keys(LABEL).join(', ')}`)
if (kinds.includes('base') && values.base === undefined) throw new Error('--kinds lists base: give --base OTHER/dist/cli/main.js')

const machine = machineInfo()
const dir = await mkdtemp(join(tmpdir(), 'outpost-floor-'))
const generator = startGenerator()
const ctx = await createContext({ quick: false, rounds, dir, generator, batch: await probeBatch(), cpuProfDir: undefined, startSubscriber })
let floors = 0

async function baseEdge(): Promise<Edge> {
  const n = ++floors
  const edgeDir = join(dir, `base-${n}`)
  const port = await freePort()
  const proc = await outpost({ dir: edgeDir, port, cloudPort: ctx.cloud.port, upstreamClientId: `bench-base-${n}`, main: values.base! })
  return { kind: 'outpost', proc, port, dir: edgeDir, topicPrefix: `bench/b${n}` }
}

async function floorEdge(withAedes = false): Promise<Edge> {
  const n = ++floors
  const edgeDir = join(dir, `floor-${n}`)
  await mkdir(edgeDir, { recursive: true })
  const port = await freePort()
  const launch = shippedLaunch()
  const proc = serverProcess({
    command: process.execPath,
    args: [...launch.nodeFlags, '--import', 'tsx', EDGE_TS, '--port', String(port), '--cloud-port', String(ctx.cloud.port), '--dir', join(edgeDir, 'db'), '--id', `floor${n}`, ...(withAedes ? ['--aedes'] : [])],
    env: launch.env,
    port,
    logFile: join(edgeDir, 'edge.log'),
  })
  return { kind: 'outpost', proc, port, dir: edgeDir, topicPrefix: `bench/f${n}` }
}

const runs: Record<Kind, Run[]> = { floor: [], 'floor-aedes': [], outpost: [], mosquitto: [], base: [] }
const lines: string[] = []
const errors: string[] = []
try {
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      const edge = kind === 'floor' || kind === 'floor-aedes' ? await floorEdge(kind === 'floor-aedes')
        : kind === 'base' ? await baseEdge() : await ctx.edge(kind)
      try {
        const r = await measureEdge(ctx, edge, PUBLISHERS, events, paced)
        runs[kind].push(r)
        const line = `round ${round}, ${LABEL[kind]}: delivered ${r.delivered.toFixed(0)}/s, edge ${r.cpuUs.toFixed(1)} µs/event, cloud broker ${r.split.cloudUs.toFixed(1)}, bench ${r.split.benchUs.toFixed(1)}, machine ${(r.split.machineBusy * 100).toFixed(0)}% busy, duplicates ${r.duplicates}`
        lines.push(line)
        console.log(line)
      } catch (err) {
        errors.push(`round ${round}, ${LABEL[kind]}: ${(err as Error).message}`)
        console.error(`ERROR ${kind}: ${(err as Error).message}`)
      } finally {
        await ctx.dispose(edge)
      }
    }
  }
} finally {
  await ctx.close()
  await generator.close()
  await rm(dir, { recursive: true, force: true })
}

const med = (kind: Kind, f: (r: Run) => number): number => median(runs[kind].map(f))
const rows: Array<[string, (r: Run) => number, number]> = [
  ['delivered to the cloud, events/s', (r) => r.delivered, 0],
  ['edge CPU per delivered event, µs', (r) => r.cpuUs, 1],
  ['cloud broker CPU per event, µs', (r) => r.split.cloudUs, 1],
  ['load generator + subscriber CPU per event, µs', (r) => r.split.benchUs, 1],
  ['machine CPU in use, %', (r) => r.split.machineBusy * 100, 0],
]
const table = [
  `| ${PUBLISHERS} publishers, ${events} events${paced === undefined ? '' : ` paced at ${paced}/s`}, median of ${rounds} | ${kinds.map((k) => LABEL[k]).join(' | ')} | floor / Mosquitto |`,
  `|---|${kinds.map(() => '---|').join('')}---|`,
  ...rows.map(([name, f, digits]) => {
    const cells = kinds.map((k) => (runs[k].length === 0 ? 'n/a' : med(k, f).toFixed(digits)))
    const ratio = runs.floor.length > 0 && runs.mosquitto.length > 0 ? `${(med('floor', f) / med('mosquitto', f)).toFixed(2)}×` : 'n/a'
    return `| ${name} | ${cells.join(' | ')} | ${ratio} |`
  }),
]
let loadAfter = 'unknown'
try { loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { /* not Linux */ }
const argv = process.argv.slice(2).map((a, i, all) => (all[i - 1] === '--out' ? 'FILE' : a))
const doc = `# The floor: a minimal Node.js edge against Outpost and the Mosquitto bridge

Written by \`npx tsx bench/floor.ts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.
Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, mosquitto ${machine.mosquitto}, classic-level ${machine.packages['classic-level']}.
Load average before: ${machine.loadAverage}; after: ${loadAfter}.

${paced === undefined
    ? 'The throughput scenario of `npm run bench` (10 publishers, up to 100 QoS 1 publishes in flight\neach, 100-byte payloads, same cloud Mosquitto, same subscriber), run against each edge in turn,\nround by round.'
    : `10 publishers sharing ${paced} QoS 1 events/s (100-byte payloads, same cloud Mosquitto, same\nsubscriber), run against each edge in turn, round by round. Below saturation: "delivered" is the\noffered rate when the edge keeps up, and the CPU per event is the measure.`} The floor edge (\`bench/floor/edge.ts\`) keeps the promise and does nothing else:
an fsync'd LevelDB batch before the PUBACKs, one MQTT 5 PUBLISH upstream per event with the three
user properties Outpost sends, one LevelDB delete per cloud PUBACK, hand-written MQTT on both
sides, one socket write per connection per event-loop turn. It has no validation, ACLs,
contracts, sessions, retransmission or backpressure.${kinds.includes('floor-aedes') ? ` "With aedes" is the same edge with
aedes (default options, in-memory persistence) as its device broker: its authorizePublish hook feeds
the same commit, and aedes sends the PUBACK.` : ''}${kinds.includes('base') ? ' "--base build" is Outpost built from another tree.' : ''}
See docs/performance.md for what this says.

${table.join('\n')}

## Rounds

${lines.map((l) => `- ${l}`).join('\n')}
${errors.length > 0 ? `\n## Errors\n\n${errors.map((e) => `- ${e}`).join('\n')}\n` : ''}`
await writeFile(values.out, doc)
console.log(`\nwrote ${values.out}`)
console.log(table.join('\n'))
process.exit(errors.length > 0 ? 1 : 0)
