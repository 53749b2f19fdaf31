import t from 'tap'
import { startDevice, type Device } from '../helpers/devices.js'
import { ackedOf } from '../helpers/e2e-stack.js'
import { FILE_TIMEOUT_MS, FULL, waitFor } from '../helpers/fault-results.js'
import { concludeScenario, startFaultStack, waitForAllAcked, waitForNewLog } from '../helpers/fault-stack.js'

/*
 * Scenario 2, link faults: the fault proxy sits between the gateway and the
 * cloud and cuts, black-holes, delays or throttles the link while devices
 * publish. Each case counts what the devices had acknowledged against what the
 * cloud received.
 *
 * The gateway runs with a short dead-link verdict (ackTimeoutMs 3 s, keepalive
 * 2 s, connect timeout 3 s) so the black hole is noticed quickly; the waits
 * below are generous upper bounds, not measurements.
 */

t.setTimeout(FILE_TIMEOUT_MS)

const UPSTREAM = 'ackTimeoutMs: 3000\nconnectTimeoutMs: 3000\nkeepaliveSec: 2'
const PER_DEVICE = FULL ? 2000 : 400
const DEAD_LINE = /not working|uplink down|uplink unreachable/

function startDevices(url: string, count: number, n = 3, prefix = 'dev'): Device[] {
  return Array.from({ length: n }, (_, i) => startDevice({ url, clientId: `${prefix}-${i + 1}`, count, intervalMs: 2 }))
}

t.test('clean cut: the proxy destroys both sides several times while events flow', async (t) => {
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t, { upstreamYaml: UPSTREAM })
  const devices = startDevices(gw.url, PER_DEVICE)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  const cuts = FULL ? 10 : 3
  for (let i = 0; i < cuts; i++) {
    // Connected again after the previous cut: messages the cloud still had queued for the collector
    // can make the next 50 arrive while the gateway is reconnecting, and a cut then would cut nothing.
    await waitFor(() => proxy.stats().accepted > i && proxy.stats().open > 0, 'the gateway connected again', 60_000)
    const before = collector.messages.length
    await waitFor(() => collector.messages.length > before + 50, 'some forwarding before the next cut', 60_000)
    proxy.cut()
  }
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked)
  // The last cut may come after everything was forwarded: its reconnect is waited for, not assumed.
  const reconnected = await waitFor(() => proxy.stats().accepted >= cuts + 1, 'a connection after the last cut', 60_000).then(() => true, () => false)
  const connections = proxy.stats().accepted
  t.ok(reconnected, `the gateway reconnected after every cut (${connections} connections)`)
  concludeScenario(t, { scenario: 'link-cut', acked, messages: collector.messages, startedAt, notes: `${cuts} cuts, ${connections} uplink connections` })
})

t.test('black hole with publishes in flight: noticed, reconnected, re-sent', async (t) => {
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t, { upstreamYaml: UPSTREAM })
  const devices = startDevices(gw.url, PER_DEVICE)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  await waitFor(() => collector.messages.length >= 100, 'forwarding under way', 60_000)
  const from = gw.logs.length
  const holeAt = Date.now()
  proxy.blackHole()
  const verdict = await waitForNewLog(gw, from, DEAD_LINE, 60_000)
  const noticedMs = Date.now() - holeAt
  t.pass(`the gateway noticed the black hole: "${verdict.msg}" (${verdict.reason ?? ''})`)
  // Stay dark a while: reconnect attempts are swallowed too, and devices that
  // publish now are still acknowledged (the spool takes them).
  const late = startDevices(gw.url, 100, 2, 'late')
  t.teardown(() => Promise.all(late.map((d) => d.stop())))
  await waitFor(() => proxy.stats().accepted >= 2, 'a reconnect attempt into the black hole', 60_000)
  await Promise.all(late.map((d) => d.done))
  t.pass('devices publishing while the link is dark were acknowledged')
  proxy.pass()
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf([...devices, ...late])
  await waitForAllAcked(collector, acked)
  const afterHole = gw.logs.slice(from).find((l) => l.msg === 'uplink connected again; forwarding the backlog')
  t.ok(afterHole, 'the uplink reconnected and forwarded the backlog')
  concludeScenario(t, {
    scenario: 'link-blackhole-busy', acked, messages: collector.messages, startedAt,
    notes: `noticed after ${(noticedMs / 1000).toFixed(1)} s (ackTimeoutMs 3 s, keepalive 2 s): ${String(verdict.reason ?? verdict.msg)}`,
  })
})

t.test('black hole on an idle link: keepalive notices it', async (t) => {
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t, { upstreamYaml: UPSTREAM })
  const first = startDevices(gw.url, 50, 1)
  await Promise.all(first.map((d) => d.done))
  await waitForAllAcked(collector, ackedOf(first))
  await Promise.all(first.map((d) => d.stop()))
  const from = gw.logs.length
  const holeAt = Date.now()
  proxy.blackHole()
  const verdict = await waitForNewLog(gw, from, DEAD_LINE, 60_000)
  const noticedMs = Date.now() - holeAt
  t.pass(`the gateway noticed the idle black hole: "${verdict.msg}" (${verdict.reason ?? ''})`)
  // Events that arrive while the link is dark are kept and forwarded later.
  const later = startDevices(gw.url, 200, 2, 'late')
  t.teardown(() => Promise.all(later.map((d) => d.stop())))
  await Promise.all(later.map((d) => d.done))
  proxy.pass()
  const acked = ackedOf([...first, ...later])
  await waitForAllAcked(collector, acked)
  concludeScenario(t, {
    scenario: 'link-blackhole-idle', acked, messages: collector.messages, startedAt,
    notes: `noticed after ${(noticedMs / 1000).toFixed(1)} s (keepalive 2 s): ${String(verdict.reason ?? verdict.msg)}`,
  })
})

t.test('added latency: 100 ms each way', async (t) => {
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t, { upstreamYaml: UPSTREAM })
  proxy.latency(100)
  // Mosquitto grants 20 publishes in flight: 20 per 200 ms round trip.
  const devices = startDevices(gw.url, FULL ? 1000 : 200)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked)
  concludeScenario(t, { scenario: 'link-latency', acked, messages: collector.messages, startedAt, notes: '100 ms added each way, per chunk' })
})

t.test('bandwidth cap: 32 kB/s each way', async (t) => {
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t, { upstreamYaml: UPSTREAM })
  proxy.bandwidth(32_000)
  const devices = startDevices(gw.url, PER_DEVICE)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked, 180_000)
  const up = proxy.stats().bytesUp
  concludeScenario(t, {
    scenario: 'link-bandwidth', acked, messages: collector.messages, startedAt,
    notes: `32 kB/s cap; ${Math.round(up / 1024)} KiB went upstream`,
  })
})
