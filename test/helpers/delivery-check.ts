import type { Received } from './mosquitto.js'

/** What arrived at the cloud, compared with what the gateway acknowledged. */
export interface DeliveryReport {
  received: number
  /** Acknowledged (device, n) pairs that never arrived. */
  missing: Array<{ device: string; n: number }>
  /** Copies beyond the first of an event id. */
  duplicates: number
  /** Messages with no event id at all. */
  withoutId: number
  /** The same device event stored twice under different ids (dedup would miss it). */
  sameEventNewId: Array<{ device: string; n: number; ids: string[] }>
  /** Per device, after removing duplicates by id: places where n went backwards. */
  reordered: Array<{ device: string; after: number; got: number }>
}

export function checkDelivery(acked: Map<string, Set<number>>, messages: Received[], idOf: (m: Received) => string | undefined): DeliveryReport {
  const seenIds = new Set<string>()
  const idsByEvent = new Map<string, Set<string>>()
  const lastN = new Map<string, number>()
  const report: DeliveryReport = { received: messages.length, missing: [], duplicates: 0, withoutId: 0, sameEventNewId: [], reordered: [] }
  const arrived = new Map<string, Set<number>>()
  for (const m of messages) {
    const { d, n } = JSON.parse(m.payload.toString()) as { d: string; n: number }
    const id = idOf(m)
    if (id === undefined) report.withoutId++
    let set = arrived.get(d)
    if (!set) arrived.set(d, (set = new Set()))
    set.add(n)
    const key = `${d}/${n}`
    let ids = idsByEvent.get(key)
    if (!ids) idsByEvent.set(key, (ids = new Set()))
    if (id !== undefined) ids.add(id)
    if (id !== undefined && seenIds.has(id)) {
      report.duplicates++
      continue
    }
    if (id !== undefined) seenIds.add(id)
    const prev = lastN.get(d)
    if (prev !== undefined && n < prev) report.reordered.push({ device: d, after: prev, got: n })
    lastN.set(d, n)
  }
  for (const [key, ids] of idsByEvent) {
    if (ids.size > 1) {
      const [d, n] = key.split('/') as [string, string]
      report.sameEventNewId.push({ device: d, n: Number(n), ids: [...ids] })
    }
  }
  for (const [device, ns] of acked) {
    const got = arrived.get(device) ?? new Set()
    for (const n of ns) if (!got.has(n)) report.missing.push({ device, n })
  }
  return report
}
