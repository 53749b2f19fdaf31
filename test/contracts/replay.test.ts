// Dead-letter replay after a contract fix: the held events reach the spool in
// their original order, with metadata; those still invalid stay.
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createChecker } from '../../src/contracts/checker.js'
import { openDeadLetterStore } from '../../src/contracts/dead-letter.js'
import { loadContracts } from '../../src/contracts/loader.js'
import { replayDeadLetters } from '../../src/contracts/replay.js'
import { openSpool } from '../../src/spool/spool.js'
import { copyDevices, editFile } from '../helpers/contracts.js'
import { captureLog } from '../helpers/log.js'

t.test('replay after a contract fix', async (t) => {
  const devices = copyDevices(t, ['env-sensor-v1'])
  const data = join(devices, '..', 'data') // one t.testdir per test: a second call would wipe the first
  const cap = captureLog()
  const store = await openDeadLetterStore({ dir: join(data, 'dlq'), log: cap.log, maxEntries: 100, maxBytes: 1 << 20 })
  t.teardown(() => store.close())
  const spool = await openSpool({ dir: join(data, 'spool'), gatewayId: 'gw', log: cap.log })
  t.teardown(() => spool.close())

  // A firmware update sends temperatures up to 100 °C; contract v1 says 85.
  const v1 = createChecker(loadContracts(devices), { gatewayId: 'gw' })
  const payloads = [90, 95, 300, 99].map((temp, i) => Buffer.from(JSON.stringify({ ts: 1763900000 + i, seq: i, temperatureC: temp, humidityPct: 40, batteryPct: 90 })))
  for (const [i, p] of payloads.entries()) {
    const v = v1.check('env-1', 'env/1/telemetry', p)
    t.equal(v.kind, 'invalid', `event ${i} breaks v1`)
    if (v.kind === 'invalid') await store.add({ clientId: 'env-1', topic: 'env/1/telemetry', payload: p, qos: 1, retain: false, reason: v.reason, errors: v.errors })
  }

  // The fix is a new contract version (a published one is never edited).
  cpSync(join(devices, 'env-sensor-v1'), join(devices, 'env-sensor-v2'), { recursive: true })
  editFile(join(devices, 'env-sensor-v2/asyncapi.yaml'), (s) => s.replace('  version: 1.0.0', '  version: 2.0.0').replace('          maximum: 85', '          maximum: 125'))
  editFile(join(devices, 'env-sensor-v2/profile.yaml'), (s) => s.replace(/\/v1\//g, '/v2/'))
  const fixed = createChecker(loadContracts(devices), { gatewayId: 'gw', rateLimits: false })

  const r = await replayDeadLetters({ store, checker: fixed, spool, unknownTopics: 'dead-letter' })
  t.equal(r.replayed, 3)
  t.strictSame(r.stillInvalid.map((x) => x.entry.seq), [2], 'the 300 °C reading is still out of range')
  const stored = await spool.readAfter(-1, 100)
  t.strictSame(stored.map((e) => JSON.parse(Buffer.from(e.payload).toString()).temperatureC), [90, 95, 99], 'original order')
  t.match(stored[0]!.meta, { 'device-type': 'env-sensor', 'contract-version': '2.0.0', message: 'reading', 'dead-lettered-at': /^\d{4}-\d\d-\d\dT/ })
  t.equal(stored[0]!.upstreamTopic, 'fleet/gw/env-sensor/v2/1/telemetry')
  t.strictSame((await store.list()).map((e) => e.seq), [2], 'replayed entries left the store')

  const again = await replayDeadLetters({ store, checker: fixed, spool, unknownTopics: 'dead-letter' })
  t.equal(again.replayed, 0, 'a second replay moves nothing')
  t.equal((await spool.readAfter(-1, 100)).length, 3)
})
