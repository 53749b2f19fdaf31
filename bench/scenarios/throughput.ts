import { performance } from 'node:perf_hooks'
import type { Context, Edge, SystemKind } from '../harness/context.js'
import { add, metric, type ScenarioResult } from '../harness/metrics.js'
import { watchCpuSplit, type CpuSplit } from '../harness/cpu-split.js'
import { watchPeak } from '../harness/proc.js'

/**
 * Scenarios 1 and 7: steady end-to-end throughput and CPU time per event.
 * 1 and 10 publishers, each with up to 100 QoS 1 publishes in flight, N
 * events in all; delivered/s = N / (last arrival at the cloud subscriber -
 * first publish). CPU = user + system time of the edge process over the run
 * (from /proc), divided by N. A fresh edge per run, warmed up first under
 * the same load, not counted: the same publishers send a fifth of N events
 * and the run starts once the cloud has them all. Steady
 * means a gateway that has been running: on a fresh Node.js process the
 * first tens of thousands of events run partly before V8 has compiled the
 * hot paths (docs/performance.md measured the difference). The
 * cloud broker's and the bench process's CPU per event, and how busy the
 * machine's cores were, are measured over the same stretch (harness/cpu-split.ts).
 *
 * The run log gives, per run, the event-loop use of the generator thread and
 * of the subscriber (main) thread: well below 100% means the harness was
 * waiting on the edge, not the other way round.
 */
const INFLIGHT = 100

export async function throughput(ctx: Context): Promise<ScenarioResult> {
  const total = ctx.quick ? 20_000 : 100_000
  const res: ScenarioResult = { id: 'throughput', title: 'Steady throughput and CPU per event', metrics: [], details: [], errors: [] }
  const S = '1. Steady throughput'
  const C = '7. CPU per event'
  const rows = {
    d1: metric({ scenario: S, name: '1 publisher: delivered to the cloud', unit: 'events/s', digits: 0, ratio: true }),
    d10: metric({
      scenario: S, name: '10 publishers: delivered to the cloud', unit: 'events/s', digits: 0, ratio: true,
      target: { text: '>= 1.0x Mosquitto', met: (m) => ratioAtLeast(m, 1.0) },
    }),
    a10: metric({ scenario: S, name: '10 publishers: PUBACKed by the edge', unit: 'events/s', digits: 0, ratio: true }),
    cpu1: metric({ scenario: C, name: '1 publisher: edge CPU per delivered event', unit: 'µs', digits: 1, ratio: true }),
    cpu10: metric({ scenario: C, name: '10 publishers: edge CPU per delivered event', unit: 'µs', digits: 1, ratio: true }),
    cloud10: metric({ scenario: C, name: '10 publishers: cloud broker CPU per delivered event', unit: 'µs', digits: 1, ratio: true }),
    bench10: metric({ scenario: C, name: '10 publishers: load generator + subscriber CPU per event', unit: 'µs', digits: 1, ratio: true }),
    busy10: metric({ scenario: C, name: '10 publishers: machine CPU in use (all cores)', unit: '%', digits: 0 }),
    rss10: metric({ scenario: S, name: '10 publishers: peak RSS under load', unit: 'MB', digits: 0, ratio: true }),
  }
  res.metrics.push(rows.d1, rows.d10, rows.a10, rows.cpu1, rows.cpu10, rows.cloud10, rows.bench10, rows.busy10, rows.rss10)

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const publishers of [1, 10]) {
      for (const kind of ['outpost', 'mosquitto'] as SystemKind[]) {
        try {
          const r = await measure(ctx, kind, publishers, total)
          if (publishers === 1) {
            add(rows.d1, kind, r.delivered)
            add(rows.cpu1, kind, r.cpuUs)
          } else {
            add(rows.d10, kind, r.delivered)
            add(rows.a10, kind, r.acked)
            add(rows.cpu10, kind, r.cpuUs)
            add(rows.cloud10, kind, r.split.cloudUs)
            add(rows.bench10, kind, r.split.benchUs)
            add(rows.busy10, kind, r.split.machineBusy * 100)
            add(rows.rss10, kind, r.peakRss)
          }
          const line = `round ${round}, ${publishers} pub, ${kind}: delivered ${r.delivered.toFixed(0)}/s, acked ${r.acked.toFixed(0)}/s, CPU ${r.cpuUs.toFixed(1)} µs/event (cloud broker ${r.split.cloudUs.toFixed(1)}, bench ${r.split.benchUs.toFixed(1)}; machine ${pct(r.split.machineBusy)} busy), peak RSS ${r.peakRss.toFixed(0)} MB, duplicates ${r.duplicates}, event-loop use: generator ${pct(r.elu)}, subscriber ${pct(r.subElu)}`
          res.details.push(line)
          ctx.log(`  ${line}`)
        } catch (err) {
          res.errors.push(`round ${round}, ${publishers} pub, ${kind}: ${(err as Error).message}`)
          ctx.log(`  ERROR ${kind}: ${(err as Error).message}`)
        }
      }
    }
  }

  if (ctx.cpuProfDir !== undefined) {
    try {
      const r = await measure(ctx, 'outpost', 10, total, ctx.cpuProfDir)
      res.details.push(`Profiled run (not in the medians; --cpu-prof costs time): 10 publishers, delivered ${r.delivered.toFixed(0)}/s; profile written to the --cpu-prof folder.`)
    } catch (err) {
      res.errors.push(`profiled run: ${(err as Error).message}`)
    }
  }
  return res
}

export interface Run { delivered: number; acked: number; cpuUs: number; split: CpuSplit; peakRss: number; duplicates: number; elu: number; subElu: number }

async function measure(ctx: Context, kind: SystemKind, publishers: number, total: number, cpuProfDir?: string): Promise<Run> {
  const edge: Edge = await ctx.edge(kind, cpuProfDir !== undefined ? { cpuProfDir } : {})
  try {
    return await measureEdge(ctx, edge, publishers, total)
  } finally {
    await ctx.dispose(edge)
  }
}

/**
 * One measured run on an edge that is not started yet; the caller disposes of
 * it. As fast as the edge acknowledges (each publisher keeps INFLIGHT
 * unanswered), or at `pacedRate` events/s (all publishers together): then
 * "delivered" is over the first to the last arrival and "acked" is NaN.
 */
export async function measureEdge(ctx: Context, edge: Edge, publishers: number, total: number, pacedRate?: number): Promise<Run> {
  await edge.proc.start()
  await ctx.warmUp(edge, { publishers, perPublisher: Math.ceil(total / 5 / publishers), inflight: INFLIGHT })
  const tag = ctx.nextTag()
  const perPublisher = Math.ceil(total / publishers)
  const n = perPublisher * publishers
  const tracker = ctx.subscriber.expect({ tag, publishers, perPublisher })
  const cpu = watchCpuSplit(edge.proc.pid, ctx.cloud.pid)
  const peak = watchPeak(edge.proc.pid)
  const subElu0 = performance.eventLoopUtilization()
  const r = pacedRate === undefined
    ? await ctx.generator.burst({ port: edge.port, publishers, events: perPublisher, inflight: INFLIGHT, tag, topicPrefix: edge.topicPrefix, timeoutMs: 300_000 })
    : await ctx.generator.paced({ port: edge.port, publishers, rate: pacedRate, total: n, tag, topicPrefix: edge.topicPrefix, timeoutMs: 300_000 + (n / pacedRate) * 1000 })
  if (r.error !== undefined) throw new Error(r.error)
  const ok = await tracker.waitFor(n, 300_000)
  const split = cpu.stop(n)
  const subElu = performance.eventLoopUtilization(subElu0).utilization
  const peakRss = peak.stop()
  if (!ok) throw new Error(`only ${tracker.unique}/${n} events reached the cloud`)
  const start = pacedRate === undefined ? BigInt(r.startedAtNs) : tracker.firstArrivalNs!
  return {
    delivered: n / (Number(tracker.lastArrivalNs! - start) / 1e9),
    acked: pacedRate === undefined ? n / (Number(BigInt(r.ackedAtNs) - start) / 1e9) : Number.NaN,
    cpuUs: split.edgeUs,
    split,
    peakRss,
    duplicates: tracker.duplicates,
    elu: r.elu,
    subElu,
  }
}

export function ratioAtLeast(m: Partial<Record<SystemKind, number>>, x: number): boolean | null {
  if (m.outpost === undefined || m.mosquitto === undefined || !Number.isFinite(m.outpost) || !Number.isFinite(m.mosquitto)) return null
  return m.outpost / m.mosquitto >= x
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`
}
