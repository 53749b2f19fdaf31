import type { SystemKind } from './context.js'
import type { MachineInfo } from './machine.js'
import { medians, type Metric, type ScenarioResult } from './metrics.js'

export interface ReportInput {
  date: string
  command: string
  quick: boolean
  rounds: number
  machine: MachineInfo
  durationMin: number
  loadAverageAfter: string
  batchNote: string
  results: ScenarioResult[]
  /** Fixed prose: setup, configs, how to read. */
  setup: string
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function cell(m: Metric, kind: SystemKind, med: Partial<Record<SystemKind, number>>): string {
  const note = m.notes?.[kind]
  if (m.values[kind] === undefined || m.values[kind]!.length === 0) return note ?? '–'
  const v = fmt(med[kind], m.digits ?? 1)
  return note !== undefined ? `${v} (${note})` : v
}

function ratio(m: Metric, med: Partial<Record<SystemKind, number>>): string {
  if (m.ratio !== true) return ''
  const o = med.outpost
  const q = med.mosquitto
  if (o === undefined || q === undefined || !Number.isFinite(o) || !Number.isFinite(q)) return '–'
  if (q === 0) return o === 0 ? '1.00x' : '∞'
  const b = med.batched
  const batched = b !== undefined && Number.isFinite(b) ? ` (batched ${(b / q).toFixed(2)}x)` : ''
  return `${(o / q).toFixed(2)}x${batched}`
}

function rounds(m: Metric): string {
  const parts: string[] = []
  for (const kind of ['outpost', 'mosquitto', 'batched'] as SystemKind[]) {
    const vs = m.values[kind]
    if (vs === undefined || vs.length === 0) continue
    parts.push(`${kind[0]!.toUpperCase()}: ${vs.map((v) => fmt(v, m.digits ?? 1)).join(' / ')}`)
  }
  return parts.join('; ')
}

export function renderReport(r: ReportInput): string {
  const m = r.machine
  const lines: string[] = []
  lines.push('# Benchmarks: Outpost and a Mosquitto bridge, side by side', '')
  lines.push(`Written by \`${r.command}\` on ${r.date}${r.quick ? ' (**quick variant**: smaller counts, for development only)' : ''}; ${r.rounds} round(s), ${r.durationMin.toFixed(1)} min in all.`, '')
  lines.push('## Machine and versions', '')
  lines.push(`- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memoryGb.toFixed(1)} GB; load average before ${m.loadAverage}, after ${r.loadAverageAfter}.`)
  lines.push(`- Node ${m.node}; ${m.mosquitto}; ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}.`)
  lines.push(`- Outpost batched uplink: ${r.batchNote}.`)
  lines.push('- The machine is shared (other jobs may run at the same time): read the ratios, which come from the same run, not the absolute numbers.', '')
  lines.push('## Results', '')
  lines.push('Medians over the rounds. Ratio = Outpost / Mosquitto, and Outpost batched / Mosquitto in brackets where measured (for rates higher is better for Outpost; for times, memory, CPU and losses lower is better). "Target" is issue 4\'s goal for the row, checked on these medians.', '')
  lines.push('| scenario | measure | Outpost | Mosquitto bridge | Outpost batched | ratio O/M | target | per round (O = Outpost, M = Mosquitto, B = batched) |')
  lines.push('|---|---|---|---|---|---|---|---|')
  for (const res of r.results) {
    for (const metric of res.metrics) {
      const med = medians(metric)
      let target = ''
      if (metric.target !== undefined) {
        const met = metric.target.met(med)
        target = `${metric.target.text}: ${typeof met === 'string' ? met : met === null ? 'not measured' : met ? '**met**' : '**not met**'}`
      }
      lines.push(`| ${metric.scenario} | ${metric.name} (${metric.unit}) | ${cell(metric, 'outpost', med)} | ${cell(metric, 'mosquitto', med)} | ${cell(metric, 'batched', med)} | ${ratio(metric, med)} | ${target} | ${rounds(metric)} |`)
    }
  }
  lines.push('')
  lines.push(r.setup, '')
  lines.push('## Run log', '')
  for (const res of r.results) {
    lines.push(`### ${res.title}`, '')
    for (const d of res.details) lines.push(`- ${d}`)
    for (const e of res.errors) lines.push(`- **error**: ${e}`)
    lines.push('')
  }
  return lines.join('\n')
}
