import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { checkDelivery } from '../helpers/delivery-check.js'
import { ackedOf, idOf, startStack } from '../helpers/e2e-stack.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('kill -9 mid-stream, three times: every acknowledged event arrives', async (t) => {
  const { gw, collector } = await startStack(t, { persistentCloud: true })
  const devices = [1, 2, 3, 4].map((i) => startDevice({ url: gw.url, clientId: `dev-${i}`, count: 2000, intervalMs: 1 }))
  for (let round = 0; round < 3; round++) {
    await sleep(400 + round * 150)
    const before = devices.reduce((s, d) => s + d.acked.size, 0)
    await gw.kill()
    t.comment(`kill -9 #${round + 1} after ${before} acknowledged events`)
    await sleep(200)
    await gw.start()
  }
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await collector.waitUntil((m) => checkDelivery(acked, m, idOf).missing.length === 0, 60_000)
  await Promise.all(devices.map((d) => d.stop()))
  const r = checkDelivery(acked, collector.messages, idOf)
  t.same(r.missing, [], 'no acknowledged event is lost')
  t.same(r.reordered, [], 'per-device order holds once duplicates are removed')
  t.same(r.sameEventNewId, [], 'every duplicate carries an id already seen')
  t.equal(r.withoutId, 0)
  t.ok(r.received >= 8000, 'the check saw every event')
  t.comment(`acknowledged ${[...acked.values()].reduce((s, v) => s + v.size, 0)}, received ${r.received}, duplicates ${r.duplicates}`)
})
