import { join } from 'node:path'
import type { Test } from 'tap'
import { gatewayProcess, type GatewayProcess } from './gateway-process.js'
import { collect, startMosquitto, type Collector, type Mosquitto, type Received } from './mosquitto.js'

/**
 * The end-to-end set-up: a private Mosquitto as the cloud, a collector
 * subscribed to everything the gateway forwards, and the gateway as a child
 * process pointed at the cloud. Everything is stopped by PID at teardown.
 */
export interface Stack {
  cloud: Mosquitto
  collector: Collector
  gw: GatewayProcess
}

export async function startStack(t: Test, opts: { persistentCloud?: boolean; cloudDownAtStart?: boolean } = {}): Promise<Stack> {
  const dirs = t.testdir({ cloud: {}, gw: {} })
  const cloud = await startMosquitto({ persistence: opts.persistentCloud === true, dir: join(dirs, 'cloud') })
  t.teardown(() => cloud.stop())
  // Subscribed before anything is forwarded: with a persistent cloud, the
  // session keeps what arrives while the collector is away.
  const collector = await collect(cloud.url, 'outpost/gw/#')
  t.teardown(() => collector.close())
  if (opts.cloudDownAtStart) await cloud.stop()
  const gw = await gatewayProcess({ dir: join(dirs, 'gw'), upstreamUrl: cloud.url })
  await gw.start()
  t.teardown(() => gw.stop())
  return { cloud, collector, gw }
}

/** The event id a forwarded message carries (MQTT 5 user property). */
export function idOf(m: Received): string | undefined {
  const v = m.userProperties['outpost-id']
  return Array.isArray(v) ? v[0] : v
}

export function ackedOf(devices: Array<{ clientId: string; acked: Set<number> }>): Map<string, Set<number>> {
  return new Map(devices.map((d) => [d.clientId, d.acked]))
}
