import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Context, SystemKind } from '../harness/context.js'
import { add, metric, type Metric, type ScenarioResult } from '../harness/metrics.js'
import { percentile } from '../harness/stats.js'

/**
 * Scenario 2: latency from device publish to cloud delivery at a paced rate.
 * 10 publishers share the rate (1k and 5k events/s), for `seconds` each run.
 * Latency = arrival at the cloud subscriber - send time written into the
 * payload (CLOCK_MONOTONIC on both sides). Each measured run follows a
 * warm-up at the same rate (`warmSeconds`, not counted): a freshly started
 * Outpost delivers its first second of paced traffic ~0.5 s late (JIT and
 * buffers warming up), which says little about a gateway that runs for
 * months. The warm-up's own p99 is kept in the run log.
 *
 * Outpost's status line (every second here) gives its own synced-write
 * times: the fsync a PUBACK waits for. The per-second p99s of the measured
 * run are reported (their median and largest), as the floor under Outpost's
 * p99 on this disk; Mosquitto writes nothing before its PUBACK.
 */
const PUBLISHERS = 10

export async function latency(ctx: Context): Promise<ScenarioResult> {
  const seconds = ctx.quick ? 4 : 10
  const warmSeconds = ctx.quick ? 2 : 3
  const res: ScenarioResult = { id: 'latency', title: 'Latency at a paced rate', metrics: [], details: [], errors: [] }
  const S = '2. Latency'
  const rows = new Map<number, { p50: Metric; p99: Metric }>()
  const commitP99 = metric({ scenario: S, name: '5k events/s: Outpost\'s own fsync\'d commit p99 (median of 1-s windows)', unit: 'ms', digits: 2 })
  const commitP99Max = metric({ scenario: S, name: '5k events/s: Outpost\'s own fsync\'d commit p99 (largest 1-s window)', unit: 'ms', digits: 2 })
  commitP99.notes = commitP99Max.notes = { mosquitto: 'no fsync' }
  for (const rate of [1000, 5000]) {
    const p50 = metric({ scenario: S, name: `${rate / 1000}k events/s: p50`, unit: 'ms', digits: 2, ratio: true })
    const p99 = metric({
      scenario: S, name: `${rate / 1000}k events/s: p99`, unit: 'ms', digits: 2, ratio: true,
      ...(rate === 5000 ? { target: { text: '<= 1.5x Mosquitto', met: (m: Partial<Record<SystemKind, number>>) => (m.outpost === undefined || m.mosquitto === undefined ? null : m.outpost <= 1.5 * m.mosquitto) } } : {}),
    })
    rows.set(rate, { p50, p99 })
    res.metrics.push(p50, p99)
  }
  res.metrics.push(commitP99, commitP99Max)

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const rate of [1000, 5000]) {
      for (const kind of ['outpost', 'mosquitto'] as SystemKind[]) {
        const edge = await ctx.edge(kind)
        try {
          await edge.proc.start()
          await ctx.warmUp(edge)
          const warm = await pacedRun(ctx, edge.port, edge.topicPrefix, rate, rate * warmSeconds)
          const tag = ctx.nextTag()
          const total = rate * seconds
          const perPublisher = Math.ceil(total / PUBLISHERS)
          const tracker = ctx.subscriber.expect({ tag, publishers: PUBLISHERS, perPublisher, latency: true })
          const from = Date.now()
          const r = await ctx.generator.paced({ port: edge.port, publishers: PUBLISHERS, rate, total, tag, topicPrefix: edge.topicPrefix, timeoutMs: seconds * 1000 + 120_000 })
          if (r.error !== undefined) throw new Error(r.error)
          if (!await tracker.waitFor(total, 120_000)) throw new Error(`only ${tracker.unique}/${total} events reached the cloud`)
          const to = Date.now()
          const lat = tracker.latencies()
          const times = kind === 'outpost' ? await commitTimes(join(edge.dir, 'outpost.log'), from, to) : { p99s: new Float64Array(0), longestMs: 0 }
          const commits = times.p99s
          const commitNote = commits.length === 0 ? '' : `; Outpost's fsync'd commits, p99 per second: median ${percentile(commits, 50).toFixed(2)} ms, largest ${percentile(commits, 100).toFixed(2)} ms; longest single commit ${times.longestMs.toFixed(2)} ms`
          if (rate === 5000 && commits.length > 0) {
            add(commitP99, kind, percentile(commits, 50))
            add(commitP99Max, kind, percentile(commits, 100))
          }
          const v50 = percentile(lat, 50)
          const v99 = percentile(lat, 99)
          add(rows.get(rate)!.p50, kind, v50)
          add(rows.get(rate)!.p99, kind, v99)
          const line = `round ${round}, ${rate}/s, ${kind}: p50 ${v50.toFixed(2)} ms, p99 ${v99.toFixed(2)} ms, p99.9 ${percentile(lat, 99.9).toFixed(2)} ms, max ${percentile(lat, 100).toFixed(2)} ms; warm-up (${warmSeconds} s, not counted) p99 ${warm.toFixed(2)} ms; publish → edge PUBACK as the generator thread sees it (its own delays included) p50 ${r.pubackP50Ms?.toFixed(2) ?? '?'} ms, p99 ${r.pubackP99Ms?.toFixed(2) ?? '?'} ms; generator max lag ${r.maxLagMs.toFixed(1)} ms, ELU ${(r.elu * 100).toFixed(0)}%${commitNote}`
          res.details.push(line)
          ctx.log(`  ${line}`)
        } catch (err) {
          res.errors.push(`round ${round}, ${rate}/s, ${kind}: ${(err as Error).message}`)
          ctx.log(`  ERROR ${kind}: ${(err as Error).message}`)
        } finally {
          await ctx.dispose(edge)
        }
      }
    }
  }
  return res
}

/**
 * The commits.p99Ms of the status lines that cover only [from, to] (a line
 * covers the second before its time), from Outpost's JSON log; and the
 * longest single commit of those seconds (commits.maxMs).
 */
async function commitTimes(logFile: string, from: number, to: number): Promise<{ p99s: Float64Array; longestMs: number }> {
  const out: number[] = []
  let longestMs = 0
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.includes('"msg":"status"')) continue
    try {
      const rec = JSON.parse(line) as { time?: number; commits?: { p99Ms?: number | null; maxMs?: number | null } }
      const p99 = rec.commits?.p99Ms
      if (typeof rec.time === 'number' && rec.time - 1000 >= from && rec.time <= to && typeof p99 === 'number') {
        out.push(p99)
        longestMs = Math.max(longestMs, rec.commits?.maxMs ?? 0)
      }
    } catch { /* a line cut short: skip */ }
  }
  return { p99s: Float64Array.from(out), longestMs }
}

/** A paced run whose latencies are not counted; returns its p99. */
async function pacedRun(ctx: Context, port: number, topicPrefix: string, rate: number, total: number): Promise<number> {
  const tag = ctx.nextTag()
  const perPublisher = Math.ceil(total / PUBLISHERS)
  const tracker = ctx.subscriber.expect({ tag, publishers: PUBLISHERS, perPublisher, latency: true })
  const r = await ctx.generator.paced({ port, publishers: PUBLISHERS, rate, total: perPublisher * PUBLISHERS, tag, topicPrefix: `${topicPrefix}/warm`, timeoutMs: 120_000 })
  if (r.error !== undefined) throw new Error(`warm-up: ${r.error}`)
  if (!await tracker.waitFor(perPublisher * PUBLISHERS, 120_000)) throw new Error(`warm-up: only ${tracker.unique} events reached the cloud`)
  return percentile(tracker.latencies(), 99)
}
