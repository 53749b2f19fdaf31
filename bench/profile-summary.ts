/**
 * Where a V8 CPU profile spends its time: self time grouped by package or
 * source folder, and the top functions. For the profiles `bench/run.ts
 * --cpu-prof DIR` writes of the Outpost process.
 *
 *   npx tsx bench/profile-summary.ts DIR_OR_FILE [--top 25] [--timeline] [--from S] [--to S]
 *
 * --timeline prints the busy share per half second, to find a phase (say the
 * drain after an outage); --from / --to then count only the samples taken
 * between those seconds after the profile started.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  top: { type: 'string', default: '25' },
  timeline: { type: 'boolean', default: false },
  from: { type: 'string' },
  to: { type: 'string' },
} })
const fromUs = values.from === undefined ? Number.NEGATIVE_INFINITY : Number(values.from) * 1e6
const toUs = values.to === undefined ? Number.POSITIVE_INFINITY : Number(values.to) * 1e6
const target = positionals[0]
if (target === undefined) {
  console.error('usage: npx tsx bench/profile-summary.ts DIR_OR_FILE [--top 25] [--timeline] [--from S] [--to S]')
  process.exit(2)
}
const files = statSync(target).isDirectory()
  ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f))
  : [target]

/** The group a frame belongs to: a package, a folder of src/, node internals, or V8's own entries. */
function group(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  const src = /\/dist\/([^/]+)\//.exec(url) ?? /\/src\/([^/]+)\//.exec(url)
  if (src) return `outpost ${src[1]}/`
  if (url.startsWith('node:internal/')) return `node:internal/${url.slice(14).split('/')[0]!.replace(/\.js$/, '')}`
  if (url.startsWith('node:')) return url
  return url
}

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  /** Busy microseconds per half second since the profile started. */
  const slots: number[] = []
  let at = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0
    at += dt
    if (at < fromUs || at > toUs) continue
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt)
    if (byId.get(p.samples[i]!)?.callFrame.functionName !== '(idle)') {
      const slot = Math.floor(at / 5e5)
      slots[slot] = (slots[slot] ?? 0) + dt
    }
  }
  if (values.timeline) {
    console.log(`\n${file}: busy share per half second`)
    for (let i = 0; i < slots.length; i++) console.log(`  ${(i / 2).toFixed(1).padStart(6)} s  ${'#'.repeat(Math.round(((slots[i] ?? 0) / 5e5) * 50))}`)
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const idle = [...self.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0)
  const busy = total - idle
  const groups = new Map<string, number>()
  const fns = new Map<string, number>()
  for (const [id, t] of self) {
    const n = byId.get(id)!
    const { functionName, url, lineNumber } = n.callFrame
    if (functionName === '(idle)') continue
    const g = group(url, functionName)
    groups.set(g, (groups.get(g) ?? 0) + t)
    const key = `${functionName || '(anonymous)'}  ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}:${lineNumber + 1}`
    fns.set(key, (fns.get(key) ?? 0) + t)
  }
  const pct = (t: number): string => `${((t / busy) * 100).toFixed(1).padStart(5)}%`
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)}%)`)
  console.log('\nself time by package / folder (share of busy time):')
  for (const [g, t] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(t)}  ${g}`)
  console.log(`\ntop ${values.top} functions by self time:`)
  for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${pct(t)}  ${f}`)
}
