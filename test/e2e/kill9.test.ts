import { join } from 'node:path'
import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { checkDelivery } from '../helpers/delivery-check.js'
import { gatewayProcess } from '../helpers/gateway-process.js'
import { collect, startMosquitto, type Received } from '../helpers/mosquitto.js'

const idOf = (m: Received): string | undefined => {
  const v = m.userProperties['outpost-id']
  return Array.isArray(v) ? v[0] : v
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('kill -9 mid-stream, three times: every acknowledged event arrives', async (t) => {
  const dirs = t.testdir({ cloud: {}, gw: {} })
  const cloud = await startMosquitto({ persistence: true, dir: join(dirs, 'cloud') })
  t.teardown(() => cloud.stop())
  const collector = await collect(cloud.url, 'outpost/gw/#')
  t.teardown(() => collector.close())
  const gw = await gatewayProcess({ dir: join(dirs, 'gw'), upstreamUrl: cloud.url })
  await gw.start()
  t.teardown(() => gw.stop())

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
  const acked = new Map(devices.map((d) => [d.clientId, d.acked]))
  await collector.waitUntil((m) => checkDelivery(acked, m, idOf).missing.length === 0, 60_000)
  await Promise.all(devices.map((d) => d.stop()))
  const r = checkDelivery(acked, collector.messages, idOf)
  t.same(r.missing, [], 'no acknowledged event is lost')
  t.same(r.reordered, [], 'per-device order holds once duplicates are removed')
  t.same(r.sameEventNewId, [], 'every duplicate carries an id already seen')
  t.equal(r.withoutId, 0)
  t.comment(`acknowledged ${[...acked.values()].reduce((s, v) => s + v.size, 0)}, received ${r.received}, duplicates ${r.duplicates}`)
})
