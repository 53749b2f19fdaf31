import type { Context, SystemKind } from '../harness/context.js'
import { add, batchedDrainVerdict, metric, type ScenarioResult } from '../harness/metrics.js'
import { watchCpuSplit } from '../harness/cpu-split.js'
import { sample } from '../harness/proc.js'

/**
 * Scenario 3: the cloud goes down, devices publish N events (all PUBACKed by
 * the edge), the cloud comes back. Measured from the moment the restarted
 * cloud accepts connections: time to the first delivery, and the drain rate
 * (N / time from first to last arrival). Outpost batched runs too when the
 * build has `upstream.batch`. The cloud is the same Mosquitto throughout,
 * stopped with SIGTERM (it keeps the subscriber's session) and started again.
 * CPU per delivered event over the drain (cloud back → last arrival): the
 * edge, the cloud broker and the bench process; and how busy the cores were
 * from the first to the last arrival (little CPU goes before the first).
 */
const PUBLISHERS = 10
const INFLIGHT = 100

export async function outage(ctx: Context): Promise<ScenarioResult> {
  const total = ctx.quick ? 20_000 : 100_000
  const res: ScenarioResult = { id: 'outage', title: `Outage: ${total.toLocaleString('en-US')} events while the cloud is down`, metrics: [], details: [], errors: [] }
  const S = `3. Outage (${total / 1000}k)`
  const first = metric({ scenario: S, name: 'cloud back → first delivery', unit: 's', digits: 2, ratio: true })
  const drain = metric({
    scenario: S, name: 'drain rate', unit: 'events/s', digits: 0, ratio: true,
    target: {
      text: 'Outpost >= 1.5x Mosquitto; batched >= 5x Outpost',
      met: (m) => {
        if (m.outpost === undefined || m.mosquitto === undefined) return null
        const verdict = (ok: boolean): string => (ok ? '**met**' : '**not met**')
        const plain = `${verdict(m.outpost >= 1.5 * m.mosquitto)} (${(m.outpost / m.mosquitto).toFixed(2)}x)`
        const batched = batchedDrainVerdict(m)
        return `${plain}; batched ${batched}`
      },
    },
  })
  const all = metric({ scenario: S, name: 'cloud back → all delivered', unit: 's', digits: 2, ratio: true })
  const lost = metric({ scenario: S, name: 'events lost', unit: 'events', digits: 0 })
  const edgeCpu = metric({ scenario: S, name: 'drain: edge CPU per event', unit: 'µs', digits: 1, ratio: true })
  const cloudCpu = metric({ scenario: S, name: 'drain: cloud broker CPU per event', unit: 'µs', digits: 1, ratio: true })
  const benchCpu = metric({ scenario: S, name: 'drain: subscriber (bench) CPU per event', unit: 'µs', digits: 1, ratio: true })
  const busy = metric({ scenario: S, name: 'drain: machine CPU in use (all cores)', unit: '%', digits: 0 })
  res.metrics.push(first, drain, all, lost, edgeCpu, cloudCpu, benchCpu, busy)
  const kinds: SystemKind[] = ['outpost', 'mosquitto']
  if (ctx.batch.available) kinds.push('batched')
  else for (const m of res.metrics) m.notes = { batched: ctx.batch.note.startsWith('not available') ? 'not available in this build' : ctx.batch.note }

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const kind of kinds) {
      await ctx.round(res, `round ${round}, ${kind}`, kind, async (edge) => {
        await edge.proc.start()
        await ctx.warmUp(edge)
        await ctx.cloud.stop()
        const tag = ctx.nextTag()
        const perPublisher = Math.ceil(total / PUBLISHERS)
        const n = perPublisher * PUBLISHERS
        const tracker = ctx.subscriber.expect({ tag, publishers: PUBLISHERS, perPublisher })
        const r = await ctx.generator.burst({ port: edge.port, publishers: PUBLISHERS, events: perPublisher, inflight: INFLIGHT, tag, topicPrefix: edge.topicPrefix, timeoutMs: 600_000 })
        if (r.error !== undefined) throw new Error(r.error)
        const rss = sample(edge.proc.pid).rssMb
        await ctx.cloud.start()
        const back = process.hrtime.bigint()
        const cpu = watchCpuSplit(edge.proc.pid, ctx.cloud.pid)
        await tracker.waitAllOrQuiet(n, { minMs: 10_000, quietMs: 10_000, maxMs: 600_000 })
        // Busy share over the drain itself: waiting for the bridge to reconnect is not drain time.
        const split = cpu.stop(tracker.unique, tracker.firstArrivalNs === null ? undefined : Number(tracker.lastArrivalNs! - tracker.firstArrivalNs) / 1e6)
        if (tracker.firstArrivalNs === null) throw new Error('nothing arrived after the cloud came back')
        const firstS = Number(tracker.firstArrivalNs - back) / 1e9
        const allS = Number(tracker.lastArrivalNs! - back) / 1e9
        const rate = tracker.unique / (Number(tracker.lastArrivalNs! - tracker.firstArrivalNs) / 1e9)
        add(first, kind, firstS)
        add(drain, kind, rate)
        add(all, kind, allS)
        add(lost, kind, n - tracker.unique)
        add(edgeCpu, kind, split.edgeUs)
        add(cloudCpu, kind, split.cloudUs)
        add(benchCpu, kind, split.benchUs)
        add(busy, kind, split.machineBusy * 100)
        return `round ${round}, ${kind}: published ${n} at ${(r.acked / (r.elapsedMs / 1000)).toFixed(0)}/s with the cloud down (RSS then ${rss.toFixed(0)} MB); first delivery ${firstS.toFixed(2)} s after the cloud was back, drain ${rate.toFixed(0)}/s, all in ${allS.toFixed(2)} s; CPU per event: edge ${split.edgeUs.toFixed(1)} µs, cloud broker ${split.cloudUs.toFixed(1)}, bench ${split.benchUs.toFixed(1)}, machine ${(split.machineBusy * 100).toFixed(0)}% busy; ${tracker.unique}/${n} unique, ${tracker.duplicates} duplicates, ${tracker.messages} upstream messages`
      })
    }
  }
  return res
}
