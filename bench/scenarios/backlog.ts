import type { Context, SystemKind } from '../harness/context.js'
import { add, batchedDrainVerdict, metric, type ScenarioResult } from '../harness/metrics.js'
import { watchCpuSplit } from '../harness/cpu-split.js'
import { sample } from '../harness/proc.js'

/**
 * Scenarios 4 and 5, and the large half of 3, in one life cycle per system
 * and round (a 1M-event backlog takes minutes to build and drain, so it is
 * built once and measured at every step):
 *
 * 1. start, warm up, 2 s idle: RSS idle;
 * 2. cloud down, devices publish N events (10 publishers): RSS holding them,
 *    1 s and QUIET_S s after the last PUBACK;
 * 3. SIGTERM, start again on the same data: time from spawn to the first
 *    CONNACK (start-up with the backlog on disk), RSS after the restart;
 * 4. cloud back: time to first delivery, drain rate, lost;
 * 5. 3 s after the last event arrived: RSS after draining.
 *
 * Outpost batched (`upstream.batch`) goes through the same cycle when the
 * build has it. Its drain of the big backlog is where batched against plain
 * is measured over seconds: the 100k outage scenario's batched drain lasts
 * a few hundred milliseconds.
 *
 * N = 1,000,000 (100,000 with --quick, or --backlog N).
 */
const PUBLISHERS = 10
const INFLIGHT = 100
/**
 * Holding is sampled 1 s after the last PUBACK and again QUIET_S s after it:
 * the first still carries the ingest burst's garbage (V8 shrinks its young
 * generation only after seconds without allocation), the second is what
 * holding the backlog costs while the gateway waits for the cloud.
 */
const QUIET_S = 10

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function backlogScenario(size?: number) {
  return async (ctx: Context): Promise<ScenarioResult> => backlog(ctx, size)
}

export async function backlog(ctx: Context, size?: number): Promise<ScenarioResult> {
  const total = size ?? (ctx.quick ? 100_000 : 1_000_000)
  const label = total >= 1_000_000 ? `${total / 1_000_000}M` : `${total / 1000}k`
  const res: ScenarioResult = { id: 'backlog', title: `Backlog of ${total.toLocaleString('en-US')} events: memory, start-up, drain`, metrics: [], details: [], errors: [] }
  const M = '4. Memory'
  const U = '5. Start-up'
  const D = `3. Outage (${label})`
  const idle = metric({
    scenario: M, name: 'RSS idle', unit: 'MB', digits: 0, ratio: true,
    target: { text: '<= 64 MB', met: (m) => (m.outpost === undefined ? null : m.outpost <= 64) },
  })
  const idleAnon = metric({ scenario: M, name: 'RSS idle, anonymous memory only (no mapped files such as the node binary)', unit: 'MB', digits: 0, ratio: true })
  const holding = metric({ scenario: M, name: `RSS holding a ${label} backlog, 1 s after the last PUBACK`, unit: 'MB', digits: 0, ratio: true })
  const added = metric({ scenario: M, name: `RSS added by the ${label} backlog, 1 s after the last PUBACK (the burst's garbage not yet collected)`, unit: 'MB', digits: 0, ratio: true })
  const holdingQuiet = metric({ scenario: M, name: `RSS holding a ${label} backlog, ${QUIET_S} s after the last PUBACK`, unit: 'MB', digits: 0, ratio: true })
  const addedQuiet = metric({
    scenario: M, name: `RSS added by the ${label} backlog, ${QUIET_S} s after the last PUBACK (what holding it costs)`, unit: 'MB', digits: 0, ratio: true,
    target: { text: '<= 32 MB', met: (m) => (m.outpost === undefined ? null : m.outpost <= 32) },
  })
  const restarted = metric({ scenario: M, name: `RSS after a restart with the ${label} backlog`, unit: 'MB', digits: 0, ratio: true })
  const drained = metric({ scenario: M, name: 'RSS after draining', unit: 'MB', digits: 0, ratio: true })
  const startup = metric({
    scenario: U, name: `process start → accepting devices, ${label} backlog on disk`, unit: 's', digits: 2, ratio: true,
    target: { text: '<= 2 s', met: (m) => (m.outpost === undefined ? null : m.outpost <= 2) },
  })
  const first = metric({ scenario: D, name: 'cloud back → first delivery', unit: 's', digits: 2, ratio: true })
  const drain = metric({
    scenario: D, name: 'drain rate', unit: 'events/s', digits: 0, ratio: true,
    target: {
      text: 'batched >= 5x Outpost',
      met: (m) => (m.outpost === undefined || m.batched === undefined ? null : batchedDrainVerdict(m)),
    },
  })
  const lost = metric({ scenario: D, name: 'events lost (graceful restart in between)', unit: 'events', digits: 0 })
  const edgeCpu = metric({ scenario: D, name: 'drain: edge CPU per event', unit: 'µs', digits: 1, ratio: true })
  const edgeCpuAfter = metric({ scenario: D, name: 'drain: edge CPU per event, with the 3 s after the last arrival (work left for after the drain)', unit: 'µs', digits: 1, ratio: true })
  const busy = metric({ scenario: D, name: 'drain: machine CPU in use (all cores)', unit: '%', digits: 0 })
  res.metrics.push(idle, idleAnon, holding, added, holdingQuiet, addedQuiet, restarted, drained, startup, first, drain, lost, edgeCpu, edgeCpuAfter, busy)
  const kinds: SystemKind[] = ['outpost', 'mosquitto']
  if (ctx.batch.available) kinds.push('batched')

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const kind of kinds) {
      await ctx.round(res, `round ${round}, ${kind}`, kind, async (edge) => {
        await edge.proc.start()
        await ctx.warmUp(edge)
        await sleep(2000)
        const idleSample = sample(edge.proc.pid)
        const rssIdle = idleSample.rssMb
        await ctx.cloud.stop()
        const tag = ctx.nextTag()
        const perPublisher = Math.ceil(total / PUBLISHERS)
        const n = perPublisher * PUBLISHERS
        const tracker = ctx.subscriber.expect({ tag, publishers: PUBLISHERS, perPublisher })
        const r = await ctx.generator.burst({ port: edge.port, publishers: PUBLISHERS, events: perPublisher, inflight: INFLIGHT, tag, topicPrefix: edge.topicPrefix, timeoutMs: 900_000 })
        if (r.error !== undefined) throw new Error(r.error)
        await sleep(1000)
        const rssHolding = sample(edge.proc.pid).rssMb
        await sleep((QUIET_S - 1) * 1000)
        const rssHoldingQuiet = sample(edge.proc.pid).rssMb
        const s0 = performance.now()
        await edge.proc.stop(120_000)
        const stopS = (performance.now() - s0) / 1000
        const startMs = await edge.proc.start()
        await sleep(1000)
        const rssRestarted = sample(edge.proc.pid).rssMb
        await ctx.cloud.start()
        const back = process.hrtime.bigint()
        const cpu = watchCpuSplit(edge.proc.pid, ctx.cloud.pid)
        await tracker.waitAllOrQuiet(n, { minMs: 10_000, quietMs: 15_000, maxMs: 1_200_000 })
        const split = cpu.stop(tracker.unique, tracker.firstArrivalNs === null ? undefined : Number(tracker.lastArrivalNs! - tracker.firstArrivalNs) / 1e6)
        if (tracker.firstArrivalNs === null) throw new Error('nothing arrived after the cloud came back')
        await sleep(3000)
        const rssDrained = sample(edge.proc.pid).rssMb
        // The head compaction waits for the end of a drain (src/spool/compaction-policy.ts): counted here.
        const edgeUsAfter = cpu.edgeUsUntilNow(tracker.unique)
        const firstS = Number(tracker.firstArrivalNs - back) / 1e9
        const rate = tracker.unique / (Number(tracker.lastArrivalNs! - tracker.firstArrivalNs) / 1e9)
        add(idle, kind, rssIdle)
        add(idleAnon, kind, idleSample.anonMb)
        add(holding, kind, rssHolding)
        add(added, kind, rssHolding - rssIdle)
        add(holdingQuiet, kind, rssHoldingQuiet)
        add(addedQuiet, kind, rssHoldingQuiet - rssIdle)
        add(restarted, kind, rssRestarted)
        add(drained, kind, rssDrained)
        add(startup, kind, startMs / 1000)
        add(first, kind, firstS)
        add(drain, kind, rate)
        add(lost, kind, n - tracker.unique)
        add(edgeCpu, kind, split.edgeUs)
        add(edgeCpuAfter, kind, edgeUsAfter)
        add(busy, kind, split.machineBusy * 100)
        return `round ${round}, ${kind}: published ${n} at ${(r.acked / (r.elapsedMs / 1000)).toFixed(0)}/s with the cloud down; RSS idle ${rssIdle.toFixed(0)} MB, holding ${rssHolding.toFixed(0)} MB (${rssHoldingQuiet.toFixed(0)} MB after ${QUIET_S} s), after restart ${rssRestarted.toFixed(0)} MB, drained ${rssDrained.toFixed(0)} MB; SIGTERM took ${stopS.toFixed(2)} s, start-up ${(startMs / 1000).toFixed(2)} s; first delivery ${firstS.toFixed(2)} s, drain ${rate.toFixed(0)}/s, edge CPU ${split.edgeUs.toFixed(1)} µs per event (${edgeUsAfter.toFixed(1)} with the 3 s after), machine ${(split.machineBusy * 100).toFixed(0)}% busy; ${tracker.unique}/${n} unique, ${tracker.duplicates} duplicates`
      })
    }
  }
  return res
}
