import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { checkDelivery } from '../helpers/delivery-check.js'
import { ackedOf, idOf, startStack } from '../helpers/e2e-stack.js'

/*
 * The gateway as a real process between real devices (MQTT.js, 3.1.1) and a
 * real Mosquitto as the cloud. Each test counts: every acknowledged event
 * arrives, per-device order holds, every duplicate carries an id already seen.
 */

t.test('normal forwarding: every event arrives once, in order, with its id', async (t) => {
  const { gw, collector } = await startStack(t)
  const devices = [1, 2, 3].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 200 }))
  await Promise.all(devices.map((d) => d.done))
  await collector.waitForCount(600, 20_000)
  await Promise.all(devices.map((d) => d.stop()))
  const r = checkDelivery(ackedOf(devices), collector.messages, idOf)
  t.same(r.missing, [])
  t.equal(r.duplicates, 0)
  t.equal(r.withoutId, 0)
  t.same(r.reordered, [])
  const first = collector.messages[0]!
  t.equal(first.topic, `outpost/gw/sensors/${JSON.parse(first.payload.toString()).d}`, 'upstream topic from the default template')
  t.match(idOf(first), /^gw-\d+-\d+$/)
})

t.test('upstream down at start, then up: buffered events arrive', async (t) => {
  const { gw, cloud, collector } = await startStack(t, { persistentCloud: true, cloudDownAtStart: true })
  const devices = [1, 2].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 300 }))
  await Promise.all(devices.map((d) => d.done))
  t.ok(gw.logs.some((l) => typeof l.msg === 'string' && /buffering/.test(l.msg)), 'the log says the gateway is buffering')

  await cloud.restart()
  await collector.waitForCount(600, 30_000)
  await Promise.all(devices.map((d) => d.stop()))
  const r = checkDelivery(ackedOf(devices), collector.messages, idOf)
  t.same(r.missing, [])
  t.same(r.reordered, [])
  t.same(r.sameEventNewId, [])
})

t.test('upstream restarted mid-stream: nothing lost, duplicates carry known ids', async (t) => {
  const { gw, cloud, collector } = await startStack(t, { persistentCloud: true })
  const devices = [1, 2, 3].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 1500, intervalMs: 1 }))
  await collector.waitForCount(300, 20_000)
  await cloud.restart()
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await collector.waitUntil((m) => checkDelivery(acked, m, idOf).missing.length === 0, 30_000)
  await Promise.all(devices.map((d) => d.stop()))
  const r = checkDelivery(acked, collector.messages, idOf)
  t.same(r.missing, [])
  t.same(r.reordered, [])
  t.same(r.sameEventNewId, [])
  t.equal(r.withoutId, 0)
  t.comment(`received ${r.received}, duplicates ${r.duplicates}`)
})

t.test('gateway restarted with a backlog: the backlog is forwarded after restart', async (t) => {
  const { gw, cloud, collector } = await startStack(t, { persistentCloud: true, cloudDownAtStart: true })
  const devices = [1, 2].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 250 }))
  await Promise.all(devices.map((d) => d.done))
  await Promise.all(devices.map((d) => d.stop()))
  t.equal(await gw.stop(), 0, 'clean exit on SIGTERM')

  await cloud.restart()
  await gw.start()
  const started = gw.logs.filter((l) => l.msg === 'outpost started').at(-1)
  t.equal(started?.pending, 500, 'the restarted gateway found the whole backlog')
  await collector.waitForCount(500, 30_000)
  const r = checkDelivery(ackedOf(devices), collector.messages, idOf)
  t.same(r.missing, [])
  t.same(r.reordered, [])
})
