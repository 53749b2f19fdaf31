import type { Context, SystemKind } from '../harness/context.js'
import { add, metric, type ScenarioResult } from '../harness/metrics.js'

/**
 * Scenario 6: `kill -9` of the edge while it holds a backlog. With the cloud
 * down, devices publish N events and get a PUBACK for every one; the edge is
 * killed with SIGKILL, started again on the same data, the cloud comes back.
 * Lost = PUBACKed events that never reach the cloud (we wait until all
 * arrived, or nothing new arrived for 5 s at least 10 s after the restart).
 * The Mosquitto bridge keeps its default autosave_interval (1800 s).
 */
const PUBLISHERS = 10
const INFLIGHT = 100

export async function kill9(ctx: Context): Promise<ScenarioResult> {
  const total = ctx.quick ? 10_000 : 50_000
  const res: ScenarioResult = { id: 'kill9', title: `kill -9 with ${total.toLocaleString('en-US')} PUBACKed events in the backlog`, metrics: [], details: [], errors: [] }
  const S = '6. kill -9'
  const lost = metric({
    scenario: S, name: `PUBACKed events lost (of ${total / 1000}k)`, unit: 'events', digits: 0,
    target: { text: '0 lost', met: (m) => (m.outpost === undefined ? null : m.outpost === 0) },
  })
  const dups = metric({ scenario: S, name: 'duplicates delivered', unit: 'events', digits: 0 })
  res.metrics.push(lost, dups)

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const kind of ['outpost', 'mosquitto'] as SystemKind[]) {
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
        await edge.proc.kill()
        await edge.proc.start()
        await ctx.cloud.start()
        // A system that delivers nothing gets at least 10 s to reconnect before the rest counts as lost.
        await tracker.waitAllOrQuiet(n, { minMs: 10_000, quietMs: 5000, maxMs: 300_000 })
        add(lost, kind, n - tracker.unique)
        add(dups, kind, tracker.duplicates)
        return `round ${round}, ${kind}: ${r.acked} PUBACKed, killed, restarted; ${tracker.unique} arrived (${n - tracker.unique} lost, ${tracker.duplicates} duplicates)`
      })
    }
  }
  return res
}
