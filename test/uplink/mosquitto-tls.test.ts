import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createUplink } from '../../src/uplink/uplink.js'
import type { Uplink, UplinkStatus, UplinkTlsOptions } from '../../src/uplink/types.js'
import { createCa, issueCert, type CertFiles } from '../helpers/certs.js'
import { freePort } from '../helpers/free-port.js'
import { captureLog, type CapturedLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'
import { collect, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { drained, uplinkOptions, waitStatus } from '../helpers/uplink-harness.js'

/**
 * mqtts:// against a private Mosquitto with a second, TLS listener. The
 * certificates are made now by the openssl CLI; the collector reads on the
 * plain listener.
 */

interface Pki {
  ca: CertFiles
  /** A CA that signed nothing the broker presents. */
  otherCa: CertFiles
  /** SAN DNS:localhost, IP:127.0.0.1. */
  server: CertFiles
  /** SAN DNS:outpost-test-cloud only. */
  cloud: CertFiles
  /** CN outpost-gw. */
  client: CertFiles
}

let dir = ''
let pki: Pki

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-tls-'))
  const ca = await createCa(dir, 'outpost-test-ca')
  pki = {
    ca,
    otherCa: await createCa(dir, 'outpost-other-ca'),
    server: await issueCert(dir, ca, 'server', { cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'serverAuth' }),
    cloud: await issueCert(dir, ca, 'cloud', { cn: 'outpost-test-cloud', dns: ['outpost-test-cloud'], usage: 'serverAuth' }),
    client: await issueCert(dir, ca, 'client', { cn: 'outpost-gw', usage: 'clientAuth' }),
  }
})
t.teardown(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

/** A broker whose second listener speaks TLS with `server`; with a client cert required, its CN is the username. */
async function startTlsBroker(t: Test, server: CertFiles, requireClientCert: boolean): Promise<{ broker: Mosquitto; tlsPort: number }> {
  const tlsPort = await freePort()
  const broker = await startMosquitto({
    extraPorts: [tlsPort],
    extraConfig: [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.ca.cert}`,
      `certfile ${server.cert}`,
      `keyfile ${server.key}`,
      `require_certificate ${requireClientCert}`,
      `use_identity_as_username ${requireClientCert}`,
    ],
  })
  t.teardown(() => broker.stop())
  return { broker, tlsPort }
}

const tls = (over: Partial<UplinkTlsOptions>): UplinkTlsOptions =>
  ({ ca: null, cert: null, key: null, servername: null, rejectUnauthorized: true, ...over })

function startUplink(t: Test, url: string, tlsOptions: UplinkTlsOptions, spool: MemorySpool):
  { uplink: Uplink; captured: CapturedLog; statuses: UplinkStatus[] } {
  const captured = captureLog()
  const uplink = createUplink({ options: uplinkOptions(url, { tls: tlsOptions }), gatewayId: 'gw', spool, log: captured.log })
  const statuses: UplinkStatus[] = []
  uplink.onStatus((s) => statuses.push(s))
  t.teardown(() => uplink.stop())
  uplink.start()
  return { uplink, captured, statuses }
}

function filledSpool(n: number): MemorySpool {
  const spool = createMemorySpool({ gatewayId: 'gw' })
  for (let i = 0; i < n; i++) spool.append({ clientId: `dev-${i % 2}`, topic: `sensors/${i % 2}` })
  return spool
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `gw-1-${i}`)

t.test('mqtts, right CA, client certificate: every event arrives with its id', async (t) => {
  const { broker, tlsPort } = await startTlsBroker(t, pki.server, true)
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  const spool = filledSpool(20)
  const { uplink } = startUplink(t, `mqtts://127.0.0.1:${tlsPort}`, tls({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }), spool)
  await waitStatus(uplink, 'connected')
  await sub.waitForCount(20)
  await drained(spool)
  t.same(sub.messages.map((m) => m.userProperties['outpost-id']), ids(20), 'all events, once, in order')
  t.match(uplink.stats(), { sent: 20, acked: 20, reconnects: 0, lastError: null })
  t.match(await broker.logText(), /New client connected from 127\.0\.0\.1:\d+ as outpost-it-\S+ \(p5, c0, k10, u'outpost-gw'\)/,
    'the broker took the client certificate (its CN became the username)')
})

t.test('a wrong CA: no connection, a certificate error, events stay in the spool, backoff without a busy loop', async (t) => {
  const { broker, tlsPort } = await startTlsBroker(t, pki.server, true)
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  const spool = filledSpool(5)
  const { uplink, captured, statuses } = startUplink(t, `mqtts://127.0.0.1:${tlsPort}`,
    tls({ ca: pki.otherCa.cert, cert: pki.client.cert, key: pki.client.key }), spool)
  await waitStatus(uplink, 'backoff')
  await new Promise((resolve) => setTimeout(resolve, 1500))

  const attempts = statuses.filter((s) => s === 'connecting').length
  t.ok(attempts >= 2 && attempts <= 10, `it retries, with backoff: ${attempts} attempts in ~1.5 s`)
  t.notOk(statuses.includes('connected'), 'never connected')
  const warns = captured.find('uplink unreachable')
  t.equal(warns.length, 1, 'one warn for the outage')
  // Mosquitto sends its chain (cafile), so Node says "self-signed ... in chain"; a leaf alone gives the other message.
  t.match(warns[0], { reason: /self-signed certificate in certificate chain|unable to verify the first certificate/, pending: 5 },
    'the warn names the certificate problem')
  const delays = captured.find('reconnect failed').map((l) => Number(l.retryInMs))
  t.ok(delays.length >= 2 && delays.at(-1)! > delays[0]! * 2, `retry delays grow: ${delays.join(', ')} ms`)
  t.match(uplink.stats(), { sent: 0, acked: 0, lastError: /certificate.*check upstream\.tls\.ca and upstream\.tls\.servername/ })
  t.equal(spool.stats().pending, 5, 'pending unchanged')
  t.same(spool.acks, [], 'nothing acked')
  t.equal(sub.messages.length, 0, 'nothing reached the broker')
})

t.test('servername: a certificate that names only outpost-test-cloud, reached by IP', async (t) => {
  const { broker, tlsPort } = await startTlsBroker(t, pki.cloud, false)
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  const url = `mqtts://127.0.0.1:${tlsPort}`

  const refused = filledSpool(3)
  const without = startUplink(t, url, tls({ ca: pki.ca.cert }), refused)
  await waitStatus(without.uplink, 'backoff')
  t.match(without.captured.find('uplink unreachable')[0], { reason: /IP: 127\.0\.0\.1 is not in the cert's list.*ERR_TLS_CERT_ALTNAME_INVALID.*upstream\.tls\.servername/ },
    'without servername the IP is checked against the SAN, and fails')
  await without.uplink.stop()
  t.notOk(without.statuses.includes('connected'))
  t.equal(refused.stats().pending, 3)

  const spool = filledSpool(10)
  const { uplink } = startUplink(t, url, tls({ ca: pki.ca.cert, servername: 'outpost-test-cloud' }), spool)
  await waitStatus(uplink, 'connected')
  await sub.waitForCount(10)
  await drained(spool)
  t.same(sub.messages.map((m) => m.userProperties['outpost-id']), ids(10), 'with servername it verifies and forwards')
})
