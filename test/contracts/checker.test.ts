import { join } from 'node:path'
import { cpSync } from 'node:fs'
import { encode } from 'cbor-x'
import t from 'tap'
import { createChecker } from '../../src/contracts/checker.js'
import { loadContracts } from '../../src/contracts/loader.js'
import { matchTopic, parseAddress, type TopicPattern } from '../../src/contracts/topic-pattern.js'
import { createRateLimiter } from '../../src/contracts/rate-limit.js'
import { copyDevices, DEVICES, editFile } from '../helpers/contracts.js'

const contracts = loadContracts(DEVICES)
const reading = (over: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ ts: 1763900000, seq: 1, temperatureC: 20, humidityPct: 40, batteryPct: 90, ...over }))

t.test('topic patterns', async (t) => {
  const p = parseAddress('env/{sensorId}/telemetry') as TopicPattern
  t.strictSame(matchTopic(p, ['env', 'a1', 'telemetry']), { sensorId: 'a1' })
  t.equal(matchTopic(p, ['env', '', 'telemetry']), undefined, 'a parameter never matches an empty level')
  t.equal(matchTopic(p, ['env', 'a1', 'telemetry', 'x']), undefined)
  t.equal(matchTopic(p, ['env', 'a1', 'status']), undefined)
  t.equal(matchTopic(p, ['env', 'b2', 'telemetry'], new Map([['sensorId', new Set(['a1'])]])), undefined, 'enum parameters')
  t.match(parseAddress('env/x{id}/t'), /whole topic level/)
  t.match(parseAddress('env/+/t'), /must not contain/)
})

t.test('a valid event gets its metadata and upstream topic', async (t) => {
  const c = createChecker(contracts, { gatewayId: 'gw' })
  t.strictSame(c.check('env-17', 'env/17/telemetry', reading()), {
    kind: 'valid',
    meta: { 'device-type': 'env-sensor', 'contract-version': '1.0.0', message: 'reading' },
    upstreamTopic: 'fleet/gw/env-sensor/v1/17/telemetry',
  })
  const reply = c.check('lock-9', 'lock/9/commands/reply', Buffer.from(JSON.stringify({ requestId: 'req-000123', result: 'done', state: 'locked', ts: 1763900000 })))
  t.match(reply, { kind: 'valid', meta: { message: 'commandReply', 'correlation-id': 'req-000123' }, upstreamTopic: 'fleet/gw/door-lock/v1/9/replies' })
  const counters = c.check('meter-1', 'meter/1/counters', encode({ ts: 1763900000, importWh: 5, exportWh: 0, powerW: 1.5 }))
  t.match(counters, { kind: 'valid', meta: { 'device-type': 'energy-meter', message: 'counters' } }, 'CBOR decoded and validated')
})

t.test('unknown topics, foreign clients, size, rate', async (t) => {
  let now = 0
  const c = createChecker(contracts, { gatewayId: 'gw', now: () => now })
  t.strictSame(c.check('env-17', 'factory/line1/temp', reading()), { kind: 'unknown' })
  t.strictSame(c.check('env-17', 'env/17', reading()), { kind: 'unknown' }, 'known first level, no channel')
  t.match(c.check('meter-1', 'env/17/telemetry', reading()), { kind: 'invalid', reason: 'client-not-in-profile', deviceType: 'env-sensor' })
  t.match(c.check('env-17', 'env/17/telemetry', Buffer.alloc(600, 32)), { kind: 'invalid', reason: 'too-large' })
  t.match(c.check('env-17', 'env/17/telemetry', Buffer.from('{')), { kind: 'invalid', reason: 'undecodable' })
  t.match(c.check('lock-1', 'lock/1/commands', Buffer.from('{}')), { kind: 'invalid', reason: 'not-published-by-device' })
  // env-sensor: 1/s, burst 20
  const verdicts = Array.from({ length: 25 }, () => c.check('env-18', 'env/18/telemetry', reading()).kind)
  t.equal(verdicts.filter((k) => k === 'valid').length, 20, 'the burst passes')
  t.match(c.check('env-18', 'env/18/telemetry', reading()), { kind: 'invalid', reason: 'rate-limit' })
  t.equal(c.check('env-19', 'env/19/telemetry', reading()).kind, 'valid', 'rates are per client')
  now += 2000
  t.equal(c.check('env-18', 'env/18/telemetry', reading()).kind, 'valid', 'tokens come back with time')
  const off = createChecker(contracts, { gatewayId: 'gw', rateLimits: false })
  t.ok(Array.from({ length: 50 }, () => off.check('env-18', 'env/18/telemetry', reading()).kind).every((k) => k === 'valid'), 'rate limits can be off (replay)')
})

t.test('two versions on the same topics: the newest that accepts the payload wins', async (t) => {
  const dir = copyDevices(t, ['env-sensor-v1'])
  cpSync(join(dir, 'env-sensor-v1'), join(dir, 'env-sensor-v2'), { recursive: true })
  editFile(join(dir, 'env-sensor-v2/asyncapi.yaml'), (s) => s.replace('  version: 1.0.0', '  version: 2.0.0').replace('          maximum: 85', '          maximum: 125'))
  editFile(join(dir, 'env-sensor-v2/profile.yaml'), (s) => s.replace(/\/v1\//g, '/v2/'))
  const c = createChecker(loadContracts(dir), { gatewayId: 'gw', rateLimits: false })
  t.match(c.check('env-1', 'env/1/telemetry', reading()), { kind: 'valid', meta: { 'contract-version': '2.0.0' }, upstreamTopic: 'fleet/gw/env-sensor/v2/1/telemetry' })
  t.match(c.check('env-1', 'env/1/telemetry', reading({ temperatureC: 100 })), { kind: 'valid', meta: { 'contract-version': '2.0.0' } })
  t.match(c.check('env-1', 'env/1/telemetry', reading({ temperatureC: 200 })), { kind: 'invalid', reason: 'schema', contractVersion: '2.0.0' },
    'failing every version reports the newest one')
})

t.test('token bucket', async (t) => {
  const r = createRateLimiter(2, 3)
  t.strictSame([0, 0, 0, 0].map(() => r.take('a', 0)), [true, true, true, false])
  t.equal(r.take('a', 499), false)
  t.equal(r.take('a', 500), true, 'one token per 500 ms at 2/s')
})
