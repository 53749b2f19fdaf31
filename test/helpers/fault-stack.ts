import { join } from 'node:path'
import type { Test } from 'tap'
import { decodeUpstreamMessage, openDeduplicator } from '../../src/index.js'
import { idOf } from './e2e-stack.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { recordResult, tally, VARIANT, waitFor, type DedupFilter, type FaultRow, type Tally } from './fault-results.js'
import { gatewayProcess, type GatewayProcess } from './gateway-process.js'
import { collect, startMosquitto, type Collector, type Mosquitto, type Received } from './mosquitto.js'

/**
 * The fault-suite set-up: a private Mosquitto as the cloud (persistent, so
 * the collector's session survives a broker restart), a collector subscribed
 * before anything is forwarded, a fault proxy in front of the cloud, and the
 * gateway as a child process whose upstream is the proxy. Stopped by PID.
 */
export interface FaultStack {
  cloud: Mosquitto
  collector: Collector
  proxy: FaultProxy
  gw: GatewayProcess
  dir: string
}

export interface FaultStackOptions {
  /** Extra keys for the gateway's upstream section (see gatewayProcess). */
  upstreamYaml?: string
  /** Extra top-level YAML for the gateway. */
  extraYaml?: string
  /** Extra Mosquitto config lines for the cloud. */
  cloudConfig?: string[]
  /** Write files into the cloud's dir before it starts (a password file...); returns more config lines. */
  prepareCloud?: (cloudDir: string) => Promise<string[]>
  /** Credentials of the collector on the cloud. */
  collectorAuth?: { username: string; password: string }
  /** Do something with the gateway dir before the gateway starts (mount a tmpfs...). */
  beforeStart?: (gwDir: string) => Promise<void>
  /** Do not start the gateway (the test starts it). */
  noStart?: boolean
}

export async function startFaultStack(t: Test, opts: FaultStackOptions = {}): Promise<FaultStack> {
  const dir = t.testdir({ cloud: {}, gw: {} })
  const prepared = opts.prepareCloud ? await opts.prepareCloud(join(dir, 'cloud')) : []
  const cloud = await startMosquitto({ persistence: true, dir: join(dir, 'cloud'), extraConfig: [...(opts.cloudConfig ?? []), ...prepared] })
  t.teardown(() => cloud.stop())
  const collector = await collect(cloud.url, 'outpost/#', opts.collectorAuth ?? {})
  t.teardown(() => collector.close())
  const proxy = await startFaultProxy({ targetPort: cloud.port })
  t.teardown(() => proxy.close())
  const gwDir = join(dir, 'gw')
  if (opts.beforeStart) await opts.beforeStart(gwDir)
  const gw = await gatewayProcess({
    dir: gwDir, upstreamUrl: proxy.url,
    ...(opts.upstreamYaml === undefined ? {} : { upstreamYaml: opts.upstreamYaml }),
    ...(opts.extraYaml === undefined ? {} : { extraYaml: opts.extraYaml }),
  })
  // tap runs teardowns in the order they were added: the cloud stops before the gateway.
  t.teardown(() => gw.stop())
  // On failure, the gateway's last words go into the tap output.
  t.teardown(() => {
    if (t.passing()) return
    for (const l of gw.logs.filter((x) => (x.level as number) >= 40).slice(-10)) t.comment(`gateway warn+: ${JSON.stringify(l).slice(0, 400)}`)
    for (const l of gw.logs.slice(-10)) t.comment(`gateway log: ${JSON.stringify(l).slice(0, 400)}`)
    t.comment(`proxy: ${JSON.stringify(proxy.stats())}, collector: ${collector.messages.length} messages`)
  })
  if (opts.noStart !== true) await gw.start()
  return { cloud, collector, proxy, gw, dir }
}

/**
 * What the cloud received, one entry per gateway event: each message decoded
 * by the consumer module (`decodeUpstreamMessage`), so a batch counts as its
 * events. The entries keep the Received shape, with the event's own payload
 * and its id as the `outpost-id` user property.
 */
export function eventsOf(messages: Received[]): Received[] {
  const out: Received[] = []
  for (const m of messages) {
    for (const e of decodeUpstreamMessage({ topic: m.topic, payload: m.payload, properties: { userProperties: m.userProperties } })) {
      out.push({ ...m, payload: Buffer.from(e.payload), userProperties: e.id === undefined ? {} : { 'outpost-id': e.id } })
    }
  }
  return out
}

/** The consumer dedup module (`openDeduplicator`, default limits, no state file) over a whole stream. */
export const dedup: DedupFilter = (events) => {
  const d = openDeduplicator()
  try {
    return d.accept(events.map((m) => ({ id: idOf(m), m }))).map((x) => x.m)
  } finally {
    d.close()
  }
}

/**
 * Counts, asserts the promise (no acknowledged event lost, no reorder after
 * dedup, every duplicate an id already delivered, nothing left after dedup),
 * and records the row.
 */
export function concludeScenario(t: Test, o: {
  scenario: string
  acked: Map<string, Set<number>>
  messages: Received[]
  startedAt: number
  notes?: string
  /** Events the gateway itself reported lost (damaged store): missing ones may not exceed it. Default 0. */
  reportedLost?: number
  /** A known gap: the promise assertions become tap todos (the row is still recorded). */
  todo?: string
}): Tally {
  const result = tally(o.acked, eventsOf(o.messages), idOf, dedup)
  const { row, report } = result
  const gap = o.todo === undefined ? {} : { todo: o.todo }
  t.ok(row.acknowledged > 0, `the scenario acknowledged events (${row.acknowledged})`)
  if (o.reportedLost === undefined) {
    t.same(report.missing.slice(0, 20), [], `no acknowledged event lost (${report.missing.length} missing)`, gap)
  } else {
    t.ok(report.missing.length <= o.reportedLost, `events missing at the cloud (${report.missing.length}) <= events the gateway reported lost (${o.reportedLost})`, gap)
  }
  t.same(report.sameEventNewId.slice(0, 20), [], 'every duplicate carries an id already delivered', gap)
  t.equal(report.withoutId, 0, 'every message carries an event id', gap)
  t.same(report.reordered.slice(0, 20), [], 'per device, order holds once duplicates are removed', gap)
  t.equal(row.duplicatesAfter, 0, 'no duplicate left after the consumer dedup', gap)
  const full: FaultRow = {
    scenario: o.scenario, variant: VARIANT, ...row,
    seconds: Math.round((Date.now() - o.startedAt) / 100) / 10,
    ...(o.notes === undefined ? {} : { notes: o.notes }),
  }
  t.comment(JSON.stringify(full))
  recordResult(full)
  return result
}

/** Resolves once every acknowledged event has reached the cloud (polled; rejects after timeoutMs). */
export async function waitForAllAcked(collector: Collector, acked: Map<string, Set<number>>, timeoutMs = 120_000): Promise<void> {
  const got = new Map<string, Set<number>>()
  let seen = 0
  const arrived = (): boolean => {
    const messages = collector.messages
    for (; seen < messages.length; seen++) {
      for (const e of eventsOf([messages[seen]!])) {
        const { d, n } = JSON.parse(e.payload.toString()) as { d: string; n: number }
        let set = got.get(d)
        if (!set) got.set(d, (set = new Set()))
        set.add(n)
      }
    }
    for (const [d, ns] of acked) {
      const g = got.get(d)
      for (const n of ns) if (!g?.has(n)) return false
    }
    return true
  }
  await waitFor(arrived, 'every acknowledged event to reach the cloud', timeoutMs)
}

/**
 * The first gateway log line at index >= `from` whose msg matches, polled.
 * (`gw.waitForLog` searches from the first line, so it cannot wait for a
 * second occurrence.)
 */
export async function waitForNewLog(gw: GatewayProcess, from: number, match: RegExp, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  let hit: Record<string, unknown> | undefined
  await waitFor(() => {
    hit = gw.logs.slice(from).find((l) => typeof l.msg === 'string' && match.test(l.msg))
    return hit !== undefined
  }, `gateway log line ${match}`, timeoutMs)
  return hit!
}

/** Events acknowledged so far by a set of devices. */
export function ackedTotal(devices: Array<{ acked: Set<number> }>): number {
  return devices.reduce((s, d) => s + d.acked.size, 0)
}
