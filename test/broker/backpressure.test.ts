// Backpressure with the real pieces: aedes, the ingest hook with its hold queue, the LevelDB spool
// with a small spool.maxBytes, and MQTT.js devices. A drain loop plays the uplink.
import t, { type Test } from 'tap'
import { startDeviceBroker } from '../../src/broker/device-broker.js'
import { createIngest } from '../../src/broker/ingest.js'
import { openSpool } from '../../src/spool/spool.js'
import { startDevice } from '../helpers/devices.js'
import { captureLog } from '../helpers/log.js'

async function setup(t: Test, holdMs: number) {
  const cap = captureLog()
  // Room for about 40 events of ~90 bytes.
  const spool = await openSpool({ dir: t.testdir(), gatewayId: 'gw', log: cap.log, groupCommitMs: 1, limits: { maxBytes: 40 * 90 } })
  const ingest = createIngest({ spool, forwards: () => true, maxPayloadBytes: 1024, storeQos0: true, log: cap.log, holdMs, maxHeld: 1000 })
  const broker = await startDeviceBroker({ host: '127.0.0.1', port: 0, maxClientIdLength: 64, maxPayloadBytes: 1024, authorizePublish: ingest.authorizePublish, log: cap.log })
  t.teardown(async () => {
    ingest.close()
    await broker.close()
    await spool.close()
  })
  return { spool, ingest, url: `mqtt://127.0.0.1:${broker.address.port}`, cap }
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

/** Read and ack everything stored, like the uplink; returns the payloads in log order. */
function drainer(spool: Awaited<ReturnType<typeof openSpool>>) {
  const seen: string[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const batch = await spool.readAfter(-1, 10)
      for (const e of batch) {
        seen.push(Buffer.from(e.payload).toString())
        spool.ack(e.seq)
      }
      await new Promise((r) => setTimeout(r, batch.length === 0 ? 20 : 5))
    }
  })()
  return { seen, stop: async () => { running = false; await loop } }
}

function perDeviceOrder(seen: string[]): Map<string, number[]> {
  const by = new Map<string, number[]>()
  for (const p of seen) {
    const { d, n } = JSON.parse(p) as { d: string; n: number }
    by.set(d, [...(by.get(d) ?? []), n])
  }
  return by
}

t.test('a full spool holds PUBACKs; as the uplink drains, every event is acknowledged, stored once, in order', async (t) => {
  const { spool, ingest, url } = await setup(t, 60_000)
  const devices = [1, 2, 3].map((i) => startDevice({ url, clientId: `dev-${i}`, count: 100, inFlight: 8 }))
  await until(() => ingest.stats.hold.held > 0, 'publishes held')
  t.equal(spool.stats().intake, 'max-bytes', 'the spool is full')
  const ackedWhileFull = devices.reduce((n, d) => n + d.acked.size, 0)
  t.ok(ackedWhileFull < 300, `only ${ackedWhileFull} acknowledged before the uplink drains`)
  t.ok(spool.stats().bytes! <= 40 * 90, 'the limit holds')

  const drain = drainer(spool)
  await Promise.all(devices.map((d) => d.done))
  await until(() => drain.seen.length >= 300, 'all drained', 5000).catch((err: unknown) => { t.comment(JSON.stringify({ seen: drain.seen.length, acked: devices.map((d) => d.acked.size), stats: spool.stats(), ingest: ingest.stats })); throw err })
  await drain.stop()
  await Promise.all(devices.map((d) => d.stop()))
  const order = perDeviceOrder(drain.seen)
  for (const d of devices) t.same(order.get(d.clientId), Array.from({ length: 100 }, (_, i) => i), `${d.clientId}: every event once, in order`)
  t.equal(ingest.stats.hold.heldRefused, 0, 'nobody was disconnected')
  t.ok(ingest.stats.hold.heldThenStored > 0)
})

t.test('held past holdMs: the device is disconnected, re-sends after reconnecting, nothing lost or reordered', async (t) => {
  const { spool, ingest, url, cap } = await setup(t, 100)
  const devices = [1, 2].map((i) => startDevice({ url, clientId: `dev-${i}`, count: 100, inFlight: 8 }))
  await until(() => ingest.stats.hold.heldRefused > 0, 'a refusal after holdMs')
  t.ok(cap.find('closing the device connection').length > 0)
  const drain = drainer(spool)
  await Promise.all(devices.map((d) => d.done))
  await until(() => perDeviceOrder(drain.seen).get('dev-2')?.includes(99) === true && perDeviceOrder(drain.seen).get('dev-1')?.includes(99) === true, 'all drained')
  await drain.stop()
  await Promise.all(devices.map((d) => d.stop()))
  const order = perDeviceOrder(drain.seen)
  for (const d of devices) {
    const got = order.get(d.clientId)!
    const unique = got.filter((n, i) => got.indexOf(n) === i)
    t.same(unique, Array.from({ length: 100 }, (_, i) => i), `${d.clientId}: every event arrives, in order`)
    t.same(got.filter((n, i) => i > 0 && n < got[i - 1]!), [], `${d.clientId}: a re-send never goes back before a stored event`)
  }
})
