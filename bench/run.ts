/**
 * Outpost and a Mosquitto bridge, side by side (issue 4). Every scenario runs
 * both systems against the same upstream Mosquitto with the same devices and
 * payloads, alternating A B A B, and reports medians and Outpost / Mosquitto.
 *
 *   npm run bench                       full run, writes docs/benchmarks.md (~20 min)
 *   npm run bench:quick                 small counts, 1 round, report in the temp dir
 *   npx tsx bench/run.ts [--quick] [--only throughput,latency,outage,backlog,kill9]
 *                        [--rounds N] [--cpu-prof DIR] [--out FILE] [--keep] [--backlog N]
 *
 * dist/ must be built first (the npm scripts do it).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createContext, type Context } from './harness/context.js'
import { startGenerator } from './harness/generator.js'
import { machineInfo } from './harness/machine.js'
import type { ScenarioResult } from './harness/metrics.js'
import { probeBatch } from './harness/outpost.js'
import { renderReport } from './harness/report.js'
import { startSubscriber } from './harness/subscriber.js'
import { backlog, backlogScenario } from './scenarios/backlog.js'
import { kill9 } from './scenarios/kill9.js'
import { latency } from './scenarios/latency.js'
import { outage } from './scenarios/outage.js'
import { throughput } from './scenarios/throughput.js'
import { setupText } from './setup-text.js'

const SCENARIOS: Record<string, (ctx: Context) => Promise<ScenarioResult>> = {
  throughput, latency, outage, backlog, kill9,
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    /** Events in the backlog scenario (default 1,000,000; 100,000 with --quick). */
    backlog: { type: 'string' },
  },
})
if (values.backlog !== undefined) SCENARIOS.backlog = backlogScenario(Number(values.backlog))

const quick = values.quick === true
// 5 rounds: a round of the 10-publisher burst moves by up to ±10%, and a 3-round median was a coin toss at parity.
const rounds = Number(values.rounds ?? (quick ? 1 : 5))
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`)
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? Object.keys(SCENARIOS)
for (const name of only) {
  if (!(name in SCENARIOS)) throw new Error(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`)
}
const complete = !quick && only.length === Object.keys(SCENARIOS).length && rounds >= 3 && values.backlog === undefined
const out = values.out ?? (complete ? 'docs/benchmarks.md' : join(tmpdir(), 'outpost-benchmarks.md'))
const cpuProfDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof'])
if (cpuProfDir !== undefined) await mkdir(cpuProfDir, { recursive: true })

const started = performance.now()
const machine = machineInfo()
const batch = await probeBatch()
const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-'))
// Also on Ctrl-C (harness/process.ts exits on SIGINT after killing the servers it started).
if (values.keep !== true) process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
const generator = startGenerator()
console.log(`outpost bench: ${quick ? 'quick, ' : ''}${rounds} round(s), scenarios ${only.join(', ')}; batched uplink: ${batch.note}; files in ${dir}`)

const ctx = await createContext({ quick, rounds, dir, generator, batch, cpuProfDir, keep: values.keep === true, startSubscriber })
const results: ScenarioResult[] = []
try {
  for (const name of only) {
    console.log(`\n== ${name}`)
    const t0 = performance.now()
    try {
      results.push(await SCENARIOS[name]!(ctx))
    } catch (err) {
      console.error(`scenario ${name} failed: ${(err as Error).stack ?? String(err)}`)
      results.push({ id: name, title: name, metrics: [], details: [], errors: [`scenario failed: ${(err as Error).message}`] })
    }
    console.log(`== ${name} took ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  }
} finally {
  await ctx.close()
  await generator.close()
  if (values.keep !== true) await rm(dir, { recursive: true, force: true })
}

// The command as typed, with folder arguments shown as DIR/FILE (no machine paths in the report).
const argv = process.argv.slice(2).map((a, i, all) => (all[i - 1] === '--cpu-prof' ? 'DIR' : all[i - 1] === '--out' ? 'FILE' : a))
const command = process.env.npm_lifecycle_event !== undefined && process.env.npm_lifecycle_event.startsWith('bench')
  ? `npm run ${process.env.npm_lifecycle_event}${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
  : `npx tsx bench/run.ts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`
let loadAfter = 'unknown'
try { loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { /* not Linux */ }
const doc = renderReport({
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  command,
  quick,
  rounds,
  machine,
  durationMin: (performance.now() - started) / 60_000,
  loadAverageAfter: loadAfter,
  batchNote: batch.note,
  results,
  setup: setupText(batch),
})
await writeFile(out, doc)
console.log(`\nwrote ${out}`)
const table = doc.split('\n').filter((l) => l.startsWith('|'))
console.log(table.join('\n'))
process.exit(0)
