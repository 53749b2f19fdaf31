import { join } from 'node:path'
import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { checkDelivery } from '../helpers/delivery-check.js'
import { ackedOf, idOf } from '../helpers/e2e-stack.js'
import { eventsOf } from '../helpers/fault-stack.js'
import { gatewayProcess } from '../helpers/gateway-process.js'
import { collect, startMosquitto } from '../helpers/mosquitto.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// Batched mode reads records with their stored bytes and acks a whole batch in one call; the spool
// writes the deletes of every ack queued while its previous delete write ran, with its counters.
// Killed in the middle of a drain, three times, the gateway must still deliver every acknowledged
// event in order, and its stored counters must come back to zero once all is delivered.
t.test('batched drain of a backlog, kill -9 three times mid-drain: every acknowledged event arrives', async (t) => {
  const dirs = t.testdir({ cloud: {}, gw: {} })
  const cloud = await startMosquitto({ persistence: true, dir: join(dirs, 'cloud') })
  t.teardown(() => cloud.stop())
  const collector = await collect(cloud.url, 'outpost/gw/#')
  t.teardown(() => collector.close())
  await cloud.stop()
  const gw = await gatewayProcess({
    dir: join(dirs, 'gw'), upstreamUrl: cloud.url,
    // Paced, so that the drain lasts long enough to be killed in its middle.
    upstreamYaml: 'batch:\n  maxEvents: 100\nrateLimit:\n  eventsPerSec: 5000',
  })
  await gw.start()
  t.teardown(() => gw.stop())

  const devices = [1, 2, 3, 4].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 4000, inFlight: 32 }))
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  const total = [...acked.values()].reduce((s, v) => s + v.size, 0)
  await Promise.all(devices.map((d) => d.stop()))
  await cloud.restart()

  const delivered = (): number => new Set(eventsOf(collector.messages).map(idOf)).size
  for (let round = 1; round <= 3; round++) {
    await collector.waitUntil(() => delivered() >= (total * round) / 5, 60_000)
    const before = delivered()
    await gw.kill()
    t.comment(`kill -9 #${round} with ${before} of ${total} events delivered`)
    await sleep(200)
    await gw.start()
  }
  await collector.waitUntil((m) => checkDelivery(acked, eventsOf(m), idOf).missing.length === 0, 120_000)
  const r = checkDelivery(acked, eventsOf(collector.messages), idOf)
  t.same(r.missing.slice(0, 20), [], 'no acknowledged event is lost')
  t.same(r.reordered.slice(0, 20), [], 'per-device order holds once duplicates are removed')
  t.same(r.sameEventNewId, [], 'every duplicate carries an id already seen')
  t.equal(r.withoutId, 0)
  t.comment(`acknowledged ${total}, received ${r.received}, duplicates ${r.duplicates}`)
  // Everything delivered and acknowledged: after a clean restart the spool must count nothing
  // pending (its counters are written with the deletes; a wrong count would never come down).
  let seen = -1
  while (seen !== collector.messages.length) {
    seen = collector.messages.length
    await sleep(1000)
  }
  await gw.stop()
  const from = gw.logs.length
  await gw.start()
  const started = gw.logs.slice(from).find((l) => l.msg === 'outpost started')
  t.equal(started?.pending, 0, 'after a clean restart the spool counts no pending record')
})
