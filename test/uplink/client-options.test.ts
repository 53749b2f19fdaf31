import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import { buildClientOptions, checkUplinkUrl, redactUrl, SESSION_EXPIRY_NEVER } from '../../src/uplink/client-options.js'
import { readTlsMaterial } from '../../src/uplink/tls-files.js'
import type { UplinkOptions } from '../../src/uplink/types.js'
import { createCa, issueCert } from '../helpers/certs.js'
import { uplinkOptions } from '../helpers/uplink-harness.js'

const base: UplinkOptions = uplinkOptions('mqtt://127.0.0.1:1883', {
  clientId: 'outpost-gw',
  keepaliveSec: 30,
  connectTimeoutMs: 5000,
  window: 64,
  reconnect: { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2, jitter: 0.3 },
  ackTimeoutMs: 20_000,
  rejected: { maxAttempts: 5, retryDelayMs: 10_000 },
})

const noTls = { ca: null, cert: null, key: null, servername: null, rejectUnauthorized: true }

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return isOutpostError(err) ? `${err.code}: ${err.message}` : `other: ${String(err)}`
  }
  return undefined
}

t.test('MQTT.js reconnect off, QoS 0 not queued, persistent MQTT 5 session', async (t) => {
  const o = buildClientOptions(base, null)
  t.match(o, {
    protocolVersion: 5, clientId: 'outpost-gw', clean: false, keepalive: 30, connectTimeout: 5000,
    reconnectPeriod: 0, queueQoSZero: false, resubscribe: false,
  })
  t.same(o.properties, { sessionExpiryInterval: SESSION_EXPIRY_NEVER })
  t.notOk('username' in o)
  t.notOk('password' in o)
  t.notOk('rejectUnauthorized' in o)
})

t.test('3.1.1, clean session, credentials', async (t) => {
  const o = buildClientOptions({ ...base, protocolVersion: 4, clean: true, username: 'u', password: 'p' }, null)
  t.equal(o.protocolVersion, 4)
  t.equal(o.clean, true)
  t.equal(o.properties, undefined, 'no MQTT 5 properties')
  t.equal(o.username, 'u')
  t.equal(o.password, 'p')
  t.equal(buildClientOptions({ ...base, clean: true }, null).properties, undefined, 'clean MQTT 5: no expiry')
})

t.test('TLS material goes through, verification on unless turned off', async (t) => {
  const o = buildClientOptions(base, { ca: Buffer.from('ca'), servername: 'cloud.example', rejectUnauthorized: true })
  t.equal(o.rejectUnauthorized, true)
  t.equal(String(o.ca), 'ca')
  t.equal(o.servername, 'cloud.example')
  t.equal(buildClientOptions(base, { rejectUnauthorized: false }).rejectUnauthorized, false)
})

t.test('url must be mqtt:// or mqtts:// and agree with tls', async (t) => {
  t.equal(checkUplinkUrl('mqtt://h:1883', null), 'mqtt')
  t.equal(checkUplinkUrl('mqtts://h:8883', null), 'mqtts', 'mqtts without tls section: system CAs, verified')
  t.equal(checkUplinkUrl('mqtts://h', noTls), 'mqtts')
  t.match(code(() => checkUplinkUrl('ws://h', null)), /^OUTPOST_UPLINK_URL: .*mqtt:\/\/ or mqtts:\/\//)
  t.match(code(() => checkUplinkUrl('not a url', null)), /^OUTPOST_UPLINK_URL: .*not a URL/)
  t.match(code(() => checkUplinkUrl('mqtt://h', noTls)), /^OUTPOST_UPLINK_URL: .*use mqtts/)
  const message = code(() => checkUplinkUrl('ws://gw:s3cret@h', null))
  t.notMatch(message, /s3cret/, 'no password in the message')
  t.match(message, /ws:\/\/gw:\*\*\*@h/)
  t.equal(redactUrl('mqtts://u:p@w@h:1'), 'mqtts://u:***@h:1', 'an @ inside the password')
  t.equal(redactUrl('mqtt://user@h'), 'mqtt://user@h', 'no password, nothing to hide')
  t.equal(redactUrl('mqtt://h:1883'), 'mqtt://h:1883', 'a port is not a password')
})

t.test('TLS files: read once, clear errors for missing, non-PEM or mismatched files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ca = await createCa(dir, 'ca')
  const client = await issueCert(dir, ca, 'client', { cn: 'gw', usage: 'clientAuth' })
  const other = await issueCert(dir, ca, 'other', { cn: 'other', usage: 'clientAuth' })
  writeFileSync(join(dir, 'ca.der'), Buffer.from([0x30, 0x82, 0x01]))
  const m = readTlsMaterial({ ...noTls, ca: ca.cert, cert: client.cert, key: client.key, servername: 's' })
  t.equal(String(m.ca), readFileSync(ca.cert, 'utf8'))
  t.ok(m.cert && m.key)
  t.equal(m.servername, 's')
  t.equal(m.rejectUnauthorized, true)
  t.same(readTlsMaterial(noTls), { rejectUnauthorized: true }, 'nothing to read')

  const missing = join(dir, 'nope.pem')
  t.match(code(() => readTlsMaterial({ ...noTls, ca: missing })),
    new RegExp(`^${ErrorCodes.UPLINK_TLS_FILE}: upstream.tls.ca: cannot read '${missing}' \\(ENOENT\\)`))
  t.match(code(() => readTlsMaterial({ ...noTls, ca: dir })), /upstream.tls.ca: cannot read .*EISDIR/)
  t.match(code(() => readTlsMaterial({ ...noTls, ca: join(dir, 'ca.der') })), /upstream.tls.ca: .* is not a PEM file/)
  t.match(code(() => readTlsMaterial({ ...noTls, cert: client.cert })), /cert and key go together/)
  t.match(code(() => readTlsMaterial({ ...noTls, cert: client.cert, key: other.key })),
    new RegExp(`^${ErrorCodes.UPLINK_TLS_FILE}: upstream.tls: the files cannot be used together`), 'a key of another certificate fails at start')
})
