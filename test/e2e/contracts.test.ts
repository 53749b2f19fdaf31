// Device contracts end to end: the gateway as a child process, a real
// Mosquitto as the cloud. Valid events arrive with the contract metadata as
// MQTT 5 user properties; invalid, unknown-topic and oversized ones land in
// the dead-letter store and never upstream; after a contract fix, `outpost
// dlq replay` sends the held events on, in their original order.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import t from 'tap'
import { copyDevices, editFile } from '../helpers/contracts.js'
import { gatewayProcess } from '../helpers/gateway-process.js'
import { collect, startMosquitto, type Received } from '../helpers/mosquitto.js'

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
const prop = (m: Received, key: string): string | undefined => {
  const v = m.userProperties[key]
  return Array.isArray(v) ? v[0] : v
}
const reading = (seq: number, temperatureC: number) => JSON.stringify({ ts: 1763900000 + seq, seq, temperatureC, humidityPct: 40, batteryPct: 90 })

t.test('valid forwarded with metadata, invalid dead-lettered, replayed in order after a fix', async (t) => {
  const devices = copyDevices(t)
  const root = join(devices, '..')
  mkdirSync(join(root, 'cloud'))
  const cloud = await startMosquitto({ dir: join(root, 'cloud') })
  t.teardown(() => cloud.stop())
  const collector = await collect(cloud.url, '#')
  t.teardown(() => collector.close())
  const gw = await gatewayProcess({
    dir: root, upstreamUrl: cloud.url,
    extraYaml: `contracts:\n  dir: ${devices}\n  unknownTopics: dead-letter\n`,
  })
  await gw.start()
  t.teardown(() => gw.stop())
  t.ok(gw.logs.some((l) => l['msg'] === 'device contracts loaded'), 'contracts loaded at start-up')

  const device = mqtt.connect(gw.url, { protocolVersion: 4, clientId: 'env-0017', clean: true })
  t.teardown(() => device.endAsync(true))
  const lock = mqtt.connect(gw.url, { protocolVersion: 4, clientId: 'lock-a12', clean: true })
  t.teardown(() => lock.endAsync(true))
  await Promise.all([device, lock].map((c) => new Promise((resolve) => c.once('connect', resolve))))

  // In publish order: two readings v1 refuses (above 85 °C), an unknown topic,
  // one too large for the profile, then valid events.
  await device.publishAsync('env/0017/telemetry', reading(1, 90), { qos: 1 })
  await device.publishAsync('env/0017/telemetry', reading(2, 95), { qos: 1 })
  await device.publishAsync('factory/line1/temp', '21.5', { qos: 1 })
  await device.publishAsync('env/0017/telemetry', 'x'.repeat(600), { qos: 1 })
  await device.publishAsync('env/0017/telemetry', reading(3, 21.5), { qos: 1 })
  await device.publishAsync('env/0017/telemetry', reading(4, 22), { qos: 1 })
  await lock.publishAsync('lock/a12/commands/reply', JSON.stringify({ requestId: 'req-20261123-0001', result: 'done', state: 'unlocked', ts: 1763900005 }), { qos: 1 })
  t.pass('every publish was acknowledged, the invalid ones too')

  await collector.waitForCount(3, 20_000)
  const [r3, r4, reply] = collector.messages
  t.equal(r3!.topic, 'fleet/gw/env-sensor/v1/0017/telemetry', 'upstream topic from the profile')
  t.equal(JSON.parse(r3!.payload.toString()).seq, 3)
  t.equal(JSON.parse(r4!.payload.toString()).seq, 4)
  t.equal(prop(r3!, 'outpost-device-type'), 'env-sensor')
  t.equal(prop(r3!, 'outpost-contract-version'), '1.0.0')
  t.equal(prop(r3!, 'outpost-message'), 'reading')
  t.match(prop(r3!, 'outpost-id'), /^gw-\d+-\d+$/)
  t.match(prop(r3!, 'outpost-ts'), /^\d+$/)
  t.equal(reply!.topic, 'fleet/gw/door-lock/v1/a12/replies')
  t.equal(prop(reply!, 'outpost-correlation-id'), 'req-20261123-0001')
  t.equal(prop(reply!, 'outpost-message'), 'commandReply')

  // The store is the running gateway's: the CLI says so instead of waiting or corrupting it.
  const cfg = join(root, 'outpost.yaml')
  const locked = spawnSync(process.execPath, [MAIN, 'dlq', 'list', '--config', cfg], { encoding: 'utf8', timeout: 30_000 })
  t.equal(locked.status, 1)
  t.match(locked.stderr, /a gateway is running on this data directory; stop it first \(OUTPOST_DLQ_LOCKED\)/)

  t.equal(await gw.stop(), 0)
  t.equal(collector.messages.length, 3, 'nothing invalid went upstream')
  const list = spawnSync(process.execPath, [MAIN, 'dlq', 'list', '--json', '--config', cfg], { encoding: 'utf8', timeout: 30_000 })
  t.equal(list.status, 0, list.stderr)
  const held = JSON.parse(list.stdout) as { entries: Array<{ topic: string; reason: string; clientId: string; errors: string[] }> }
  t.strictSame(held.entries.map((e) => [e.topic, e.reason]), [
    ['env/0017/telemetry', 'schema'], ['env/0017/telemetry', 'schema'], ['factory/line1/temp', 'unknown-topic'], ['env/0017/telemetry', 'too-large'],
  ])
  t.strictSame(held.entries[0]!.errors, ['/temperatureC: must be <= 85'])

  // The fix: a new contract version that allows up to 125 °C.
  cpSync(join(devices, 'env-sensor-v1'), join(devices, 'env-sensor-v2'), { recursive: true })
  editFile(join(devices, 'env-sensor-v2/asyncapi.yaml'), (s) => s.replace('  version: 1.0.0', '  version: 2.0.0').replace('          maximum: 85', '          maximum: 125'))
  editFile(join(devices, 'env-sensor-v2/profile.yaml'), (s) => s.replace(/\/v1\//g, '/v2/'))
  const replay = spawnSync(process.execPath, [MAIN, 'dlq', 'replay', '--config', cfg], { encoding: 'utf8', timeout: 30_000 })
  t.equal(replay.status, 0, replay.stderr)
  t.match(replay.stdout, /replayed 2 dead letters into the spool .*; 2 still fail their contract and stay/)

  await gw.start()
  await collector.waitForCount(5, 20_000)
  const replayed = collector.messages.slice(3)
  t.strictSame(replayed.map((m) => JSON.parse(m.payload.toString()).seq), [1, 2], 'replayed in their original order')
  t.strictSame(replayed.map((m) => prop(m, 'outpost-contract-version')), ['2.0.0', '2.0.0'])
  t.strictSame(replayed.map((m) => m.topic), ['fleet/gw/env-sensor/v2/0017/telemetry', 'fleet/gw/env-sensor/v2/0017/telemetry'])
  t.match(prop(replayed[0]!, 'outpost-dead-lettered-at'), /^\d{4}-\d\d-\d\dT/)
})

t.test('a broken contract refuses start-up with exit code 78, naming file, line and pointer', async (t) => {
  const devices = copyDevices(t, ['door-lock-v1'])
  editFile(join(devices, 'door-lock-v1/asyncapi.yaml'), (s) => s.replace('    action: receive', '    action: listen'))
  const cfg = join(devices, '..', 'outpost.yaml')
  writeFileSync(cfg, `gateway:\n  dataDir: ${join(devices, '..', 'data')}\nbroker:\n  host: 127.0.0.1\n  port: 0\ncontracts:\n  dir: ${devices}\n`)
  const r = spawnSync(process.execPath, [MAIN, 'start', '--config', cfg], { encoding: 'utf8', timeout: 30_000, cwd: join(devices, '..') })
  t.equal(r.status, 78)
  t.match(r.stderr, /^outpost: invalid device contract:\n {2}devices\/door-lock-v1\/asyncapi\.yaml:\d+:\d+ \(at \/operations\/receiveCommand\/action\): AsyncAPI 3\.0\.0 schema: must be one of "send", "receive"/)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
})

t.test('outpost simulate and outpost docs against a running gateway', async (t) => {
  const devices = copyDevices(t)
  const root = join(devices, '..')
  mkdirSync(join(root, 'cloud'))
  const cloud = await startMosquitto({ dir: join(root, 'cloud') })
  t.teardown(() => cloud.stop())
  const collector = await collect(cloud.url, '#')
  t.teardown(() => collector.close())
  const gw = await gatewayProcess({ dir: root, upstreamUrl: cloud.url, extraYaml: `contracts:\n  dir: ${devices}\n` })
  await gw.start()
  t.teardown(() => gw.stop())

  const sim = spawnSync(process.execPath, [MAIN, 'simulate', 'door-lock', '--gateway', gw.url, '--count', '40', '--rate', '200',
    '--invalid-ratio', '0.25', '--devices', '4', '--seed', '11', '--json', '--contracts', devices], { encoding: 'utf8', timeout: 60_000 })
  t.equal(sim.status, 0, sim.stderr)
  const summary = JSON.parse(sim.stdout) as { sent: number; acked: number; invalidSent: number }
  t.equal(summary.acked, 40, 'every event acknowledged, broken ones too')
  t.ok(summary.invalidSent > 0 && summary.invalidSent < 40, `some broken on purpose (${summary.invalidSent})`)
  await collector.waitForCount(40 - summary.invalidSent, 20_000)
  t.ok(collector.messages.every((m) => prop(m, 'outpost-device-type') === 'door-lock'), 'forwarded events carry the contract metadata')
  t.ok(collector.messages.every((m) => m.topic.startsWith('fleet/gw/door-lock/v1/sim')), 'on the profile upstream topics')

  const out = join(root, 'docs-out')
  const docs = spawnSync(process.execPath, [MAIN, 'docs', '--config', join(root, 'outpost.yaml'), '--out', out, '--format', 'html'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(docs.status, 0, docs.stderr)
  t.match(docs.stdout, /wrote .*outpost-asyncapi\.yaml and .*outpost-asyncapi\.html \(6 channels from 3 contracts\)/)
  t.match(readFileSync(join(out, 'outpost-asyncapi.yaml'), 'utf8'), /^asyncapi: 3\.0\.0\n/)
  t.match(readFileSync(join(out, 'outpost-asyncapi.html'), 'utf8'), /<h1>Outpost gateway gw<\/h1>/)

  await gw.stop()
  const list = spawnSync(process.execPath, [MAIN, 'dlq', 'list', '--json', '--config', join(root, 'outpost.yaml')], { encoding: 'utf8', timeout: 30_000 })
  t.equal((JSON.parse(list.stdout) as { entries: unknown[] }).entries.length, summary.invalidSent, 'every broken event is in the dead-letter store')
})
