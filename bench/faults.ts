/**
 * The fault suite with published figures: builds, runs `tap test/faults` with
 * the long variants (OUTPOST_FAULTS=full) and a results file, then writes
 * docs/reliability.md, one row per scenario.
 *
 *   npm run faults                               # full variants, writes docs/reliability.md
 *   npx tsx bench/faults.ts --short --out FILE   # the CI variants, to check the writer
 *   npx tsx bench/faults.ts --seed 123           # replay the random kill moments
 *
 * Exits with tap's exit code, after writing the document either way.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem, type as osType } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { FaultRow } from '../test/helpers/fault-results.js'
import { mosquittoVersion } from './harness/mosquitto.js'

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs/reliability.md' },
    seed: { type: 'string' },
    /** Only these test files (e.g. test/faults/crash-loop.test.ts); default the whole folder. */
    only: { type: 'string', multiple: true },
  },
})

/** What each scenario does, in the order of the document. */
const SCENARIOS: Array<[string, string]> = [
  ['crash-loop', '4 devices publish QoS 1 without pause while the gateway is killed with SIGKILL at random moments (seeded PRNG) and started again; before some kills the uplink is cut at the fault proxy or brought back.'],
  ['link-cut', 'The fault proxy between gateway and cloud destroys both sides of the uplink connection several times while 3 devices publish.'],
  ['link-blackhole-busy', 'The proxy keeps the uplink sockets open but drops every byte both ways while publishes are in flight; the gateway must declare the link dead (upstream.ackTimeoutMs 3 s), reconnect (also into the black hole) and re-send once the proxy passes again. Devices publishing during the black hole are still acknowledged.'],
  ['link-blackhole-idle', 'The same black hole on an idle uplink: only the MQTT keepalive (upstream.keepaliveSec 2) can notice it; events published while it lasts are forwarded afterwards.'],
  ['link-latency', '100 ms added to every chunk each way (order kept).'],
  ['link-bandwidth', 'The uplink capped at 32 kB/s each way.'],
  ['cloud-restart', 'The cloud Mosquitto restarted (SIGTERM, persistent) several times while 3 devices publish.'],
  ['cloud-bad-credentials', 'The cloud refuses the gateway\'s username and password (CONNACK "not authorized"); the test checks the warn line and its reason, counts connection attempts at the proxy (backoff, no busy loop), then accepts the password on the cloud and restarts it: the events kept meanwhile are forwarded.'],
  ['disk-full', 'The data directory is a 16 MiB tmpfs with a filler file leaving ~1.5 MiB; uplink down; devices publish 500-byte events until a write fails with ENOSPC (spool.minFreeBytes 0, so the real failure path runs). Checks: no acknowledgement while full, the backlog forwarded while still full, new events taken again after the filler is removed without a restart, and a clean stop and start with no damage found.'],
  ['damaged-store-truncated-table', 'A backlog of 5,000 events (30,000 in the full variant) from 2 devices stored with the uplink down and the gateway stopped; the largest LevelDB table file is cut to half its size; the gateway is started again.'],
  ['damaged-store-missing-manifest', 'As above, with the MANIFEST file deleted.'],
  ['damaged-store-overwritten-table', 'As above, with 4 KiB of garbage written over the middle of the largest table file (the file keeps its size).'],
  ['device-qos2-hangup', 'A packet-level device sends QoS 2 events and, at random (seeded), hangs up after PUBLISH, after PUBREC or after PUBREL, then reconnects and finishes the exchange as the protocol says.'],
  ['device-flood', 'One device floods QoS 1 events with 1000 in flight while another publishes one event every 20 ms; the normal device\'s round trips are timed (reported, not asserted).'],
]

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  } catch {
    return 'unknown'
  }
}

function readRows(file: string): FaultRow[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as FaultRow)
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

export function renderDoc(o: { rows: FaultRow[]; variant: 'short' | 'full'; command: string; tapExit: number | null; startedAt: Date; wallSec: number }): string {
  const byName = new Map(o.rows.map((r) => [r.scenario, r]))
  const cpu = cpus()
  const lines: string[] = []
  lines.push('# Reliability: the fault suite')
  lines.push('')
  lines.push(`Written by \`${o.command}\` (\`bench/faults.ts\`) on ${o.startedAt.toISOString().slice(0, 10)}, ${o.variant} variants` +
    `, ${o.wallSec.toFixed(0)} s wall time; tap exit code ${o.tapExit ?? 'none'}${o.tapExit === 0 ? ' (every assertion passed; known gaps are todos)' : ''}.`)
  lines.push('')
  lines.push(`- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${osType()} ${release()}; shared with other work while it ran.`)
  lines.push(`- Versions: Outpost ${sh('git', ['rev-parse', '--short', 'HEAD'])}, Node ${process.version}, ${mosquittoVersion()}.`)
  lines.push('- Processes: the built gateway as a child process (`node dist/cli/main.js start`), a private Mosquitto on a free loopback port as the cloud, MQTT.js 3.1.1 devices (persistent sessions, QoS 1, several in flight) or a packet-level device, and a TCP fault proxy (`test/helpers/fault-proxy.ts`) between gateway and cloud.')
  lines.push('- Short variants run in `npm test` (CI); `npm run faults` runs the full ones (more events, 25 kills) and writes this page.')
  lines.push('')
  lines.push('## Columns')
  lines.push('')
  lines.push('- **acknowledged**: device events the gateway acknowledged (PUBACK; PUBREC for QoS 2).')
  lines.push('- **delivered**: acknowledged events that reached the cloud at least once. **lost**: acknowledged events that never did.')
  lines.push('- **dup before**: messages the cloud received beyond the first copy of an event. **dup after**: the same after the consumer dedup module (`openDeduplicator` from the package, fed by `decodeUpstreamMessage`).')
  lines.push('- **reordered**: places where a device\'s counter went backwards, after dedup.')
  lines.push('- **s**: wall time of the scenario, set-up included.')
  lines.push('')
  lines.push('## Results')
  lines.push('')
  lines.push('| scenario | acknowledged | delivered | lost | dup before | dup after | reordered | s | notes |')
  lines.push('|---|---|---|---|---|---|---|---|---|')
  const known = new Set(SCENARIOS.map(([n]) => n))
  const names = [...SCENARIOS.map(([n]) => n), ...o.rows.map((r) => r.scenario).filter((n) => !known.has(n))]
  for (const name of names) {
    const r = byName.get(name)
    if (r === undefined) {
      lines.push(`| ${name} | — | — | — | — | — | — | — | no result: the test failed before counting, or was skipped (see the tap output) |`)
    } else if (r.failed !== undefined) {
      lines.push(`| ${name} | ${r.acknowledged} | — | — | — | — | — | ${r.seconds} | **FAILED**: ${cell(r.failed)}; ${cell(r.notes ?? '')} |`)
    } else {
      lines.push(`| ${name} | ${r.acknowledged} | ${r.delivered} | ${r.lost} | ${r.duplicatesBefore} | ${r.duplicatesAfter} | ${r.reordered} | ${r.seconds} | ${cell(r.notes ?? '')} |`)
    }
  }
  lines.push('')
  lines.push('## What each scenario does')
  lines.push('')
  for (const [name, what] of SCENARIOS) lines.push(`- **${name}**: ${what}`)
  lines.push('')
  lines.push('Every scenario asserts, besides its own checks: every acknowledged event arrives (except events the')
  lines.push('gateway itself reported lost from a damaged store, checked by sequence number), every duplicate carries')
  lines.push('an id already delivered, no device\'s order is broken once duplicates are removed, and nothing is left')
  lines.push('twice after the consumer dedup. No assertion is about time; the waits are generous upper bounds.')
  lines.push('')
  lines.push('## Closing note')
  lines.push('')
  lines.push(closingNote(o.rows))
  lines.push('')
  return lines.join('\n')
}

function closingNote(rows: FaultRow[]): string {
  const ok = rows.filter((r) => r.failed === undefined)
  const sum = (f: (r: FaultRow) => number, rs = ok): number => rs.reduce((s, r) => s + f(r), 0)
  const damaged = ok.filter((r) => r.scenario.startsWith('damaged-store'))
  const other = ok.filter((r) => !r.scenario.startsWith('damaged-store'))
  const failed = rows.filter((r) => r.failed !== undefined)
  const crash = rows.find((r) => r.scenario === 'crash-loop')
  const parts: string[] = []
  parts.push(`${rows.length} scenarios recorded. Outside the damaged-store cases, ${sum((r) => r.acknowledged, other)} events were acknowledged, ` +
    `${sum((r) => r.delivered, other)} delivered and ${sum((r) => r.lost, other)} lost; ${sum((r) => r.duplicatesBefore, other)} duplicate copies reached the cloud, ` +
    `${sum((r) => r.duplicatesAfter, other)} remained after the consumer dedup, and ${sum((r) => r.reordered, other)} reorderings were seen.`)
  if (crash) parts.push(`The crash loop (${crash.notes ?? ''}) acknowledged ${crash.acknowledged} events and lost ${crash.lost}, with ${crash.duplicatesBefore} duplicate copies before dedup and ${crash.duplicatesAfter} after.`)
  for (const r of ok.filter((x) => x.scenario.startsWith('link-blackhole'))) parts.push(`${r.scenario}: ${r.notes ?? ''}.`)
  if (damaged.length > 0) {
    parts.push(`Damaged stores: ${damaged.map((r) => `${r.scenario.replace('damaged-store-', '')} lost ${r.lost} of ${r.acknowledged}`).join(', ')}; ` +
      'each loss was reported by the gateway (count and sequence ranges) and every sequence number was either delivered or inside a reported range.')
  }
  if (failed.length > 0) parts.push(`Failed or known gaps: ${failed.map((r) => `${r.scenario} (${r.failed ?? ''})`).join('; ')}.`)
  return parts.join(' ')
}

async function main(): Promise<void> {
  const variant = values.short ? 'short' : 'full'
  const startedAt = new Date()
  const t0 = Date.now()
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' })
  const dir = mkdtempSync(join(tmpdir(), 'outpost-faults-'))
  const results = join(dir, 'results.jsonl')
  const files = values.only ?? ['test/faults']
  const env: NodeJS.ProcessEnv = { ...process.env, OUTPOST_FAULTS_RESULTS: results }
  if (variant === 'full') env.OUTPOST_FAULTS = 'full'
  else delete env.OUTPOST_FAULTS
  if (values.seed !== undefined) env.OUTPOST_FAULTS_SEED = values.seed
  // One file at a time for the published figures (the machine has 2 cores), a long per-file limit.
  const tap = spawnSync('npx', ['tap', '--disable-coverage', '--jobs', '1', '--timeout', '1800', ...files], { stdio: 'inherit', env })
  const rows = readRows(results)
  rmSync(dir, { recursive: true, force: true })
  const command = variant === 'full' ? 'npm run faults' : 'npx tsx bench/faults.ts --short'
  const doc = renderDoc({ rows, variant, command, tapExit: tap.status, startedAt, wallSec: (Date.now() - t0) / 1000 })
  writeFileSync(values.out!, doc)
  console.log(`wrote ${values.out} (${rows.length} rows)`)
  process.exitCode = tap.status ?? 1
}

await main()
