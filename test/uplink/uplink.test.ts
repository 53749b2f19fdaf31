import t, { type Test } from 'tap'
import type { IClientOptions, IClientPublishOptions, IConnackPacket } from 'mqtt'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import { createUplink } from '../../src/uplink/uplink.js'
import type { ClientHandlers, PublishCallback, UplinkOptions, UplinkStatus } from '../../src/uplink/types.js'
import { captureLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'
import { uplinkOptions } from '../helpers/uplink-harness.js'

/** The uplink's lifecycle against fake connections: no sockets. */

const options: UplinkOptions = uplinkOptions('mqtt://127.0.0.1:1', {
  clientId: 'outpost-test',
  keepaliveSec: 30,
  window: 4,
  reconnect: { initialDelayMs: 10, maxDelayMs: 80, multiplier: 2, jitter: 0 },
  ackTimeoutMs: 5000,
  rejected: { maxAttempts: 3, retryDelayMs: 50 },
})

interface Sent { id: string; cb: PublishCallback; opts: IClientPublishOptions }

class FakeConnection {
  sent: Sent[] = []
  destroyed = false
  ended = false
  constructor(readonly url: string, readonly options: IClientOptions, readonly handlers: ClientHandlers) {}
  accept(properties?: IConnackPacket['properties']): void {
    const connack: IConnackPacket = { cmd: 'connack', sessionPresent: false, reasonCode: 0 }
    if (properties) connack.properties = properties
    setImmediate(() => this.handlers.onConnect(connack))
  }
  fail(message: string): void {
    setImmediate(() => {
      this.handlers.onError(new Error(message))
      this.handlers.onClose()
    })
  }
  publish(_topic: string, _payload: Buffer, opts: IClientPublishOptions, cb: PublishCallback): void {
    this.sent.push({ id: String(opts.properties?.userProperties?.['outpost-id']), cb, opts })
  }
  destroy(): void {
    this.destroyed = true
  }
  async end(): Promise<void> {
    this.ended = true
  }
}

function setup(t: Test, over: Partial<UplinkOptions> = {}, spool: MemorySpool = createMemorySpool()) {
  const conns: FakeConnection[] = []
  const statuses: UplinkStatus[] = []
  const captured = captureLog()
  const uplink = createUplink({
    options: { ...options, ...over },
    gatewayId: 'gw',
    spool,
    log: captured.log,
    connect: (url, opts, handlers) => {
      const c = new FakeConnection(url, opts, handlers)
      conns.push(c)
      return c
    },
  })
  uplink.onStatus((s) => statuses.push(s))
  t.teardown(() => uplink.stop())
  return { uplink, conns, statuses, captured, spool }
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

t.test('start fails fast on bad config: url, topic template, TLS file', async (t) => {
  const cases: Array<[Partial<UplinkOptions>, string]> = [
    [{ url: 'http://x' }, ErrorCodes.UPLINK_URL],
    [{ topicTemplate: 'x/{nope}' }, ErrorCodes.UPLINK_TOPIC_TEMPLATE],
    [{ url: 'mqtts://x', tls: { ca: '/nonexistent/ca.pem', cert: null, key: null, servername: null, rejectUnauthorized: true } },
      ErrorCodes.UPLINK_TLS_FILE],
  ]
  for (const [over, code] of cases) {
    const s = setup(t, over)
    try {
      s.uplink.start()
      t.fail('started')
    } catch (err) {
      t.ok(isOutpostError(err), code)
      t.equal((err as { code: string }).code, code)
    }
    t.equal(s.conns.length, 0, 'no connection attempted')
    t.equal(s.uplink.status, 'idle')
  }
})

t.test('client options: MQTT.js reconnect off, fixed client id, persistent MQTT 5 session', async (t) => {
  const s = setup(t)
  s.uplink.start()
  t.equal(s.conns.length, 1)
  t.match(s.conns[0]!.options, { clientId: 'outpost-test', reconnectPeriod: 0, clean: false, protocolVersion: 5, queueQoSZero: false })
  t.equal(s.uplink.status, 'connecting')
})

t.test('outage: one warn when it starts, debug per retry, backoff grows, info when back', async (t) => {
  const s = setup(t)
  s.spool.append()
  s.uplink.start()
  for (let i = 0; i < 5; i++) {
    await until(() => s.conns.length === i + 1)
    s.conns[i]!.fail('connect ECONNREFUSED 127.0.0.1:1')
  }
  await until(() => s.conns.length === 6)
  const warns = s.captured.lines.filter((l) => l.level === 40)
  t.equal(warns.length, 1, 'one warn for the whole outage')
  t.match(warns[0], { msg: /unreachable; buffering events in the spool/, pending: 1, reason: 'connect ECONNREFUSED 127.0.0.1:1', retryInMs: 10 })
  const retries = s.captured.find('reconnect failed').map((l) => l.retryInMs)
  t.same(retries, [20, 40, 80, 80], 'exponential, capped at maxDelayMs')
  t.match(s.uplink.stats().lastError, /ECONNREFUSED/)
  s.conns[5]!.accept()
  await until(() => s.uplink.status === 'connected')
  t.equal(s.captured.find('connected again').length, 1)
  t.same(s.statuses.slice(0, 3), ['connecting', 'backoff', 'connecting'])
  t.equal(s.uplink.stats().reconnects, 0, 'the first successful connection is not a reconnect')
})

t.test('a new failure reason during an outage is logged once more', async (t) => {
  const s = setup(t)
  s.uplink.start()
  s.conns[0]!.fail('connect ETIMEDOUT')
  await until(() => s.conns.length === 2)
  s.conns[1]!.fail('Connection refused: Not authorized')
  await until(() => s.conns.length === 3)
  s.conns[2]!.fail('Connection refused: Not authorized')
  await until(() => s.conns.length === 4)
  t.same(s.captured.lines.filter((l) => l.level === 40).map((l) => l.reason),
    ['connect ETIMEDOUT', 'Connection refused: Not authorized'])
})

t.test('after a reconnect, forwarding restarts from the oldest unacked record, in order', async (t) => {
  const s = setup(t)
  for (let i = 0; i < 6; i++) s.spool.append()
  s.uplink.start()
  s.conns[0]!.accept()
  const first = s.conns[0]!
  await until(() => first.sent.length === 4)
  first.sent[0]!.cb(null)
  first.sent[1]!.cb(null)
  await until(() => first.sent.length === 6)
  t.same(first.sent.map((p) => p.id), ['gw-1-0', 'gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-4', 'gw-1-5'])
  t.equal(s.uplink.stats().inFlight, 4)
  first.handlers.onClose()
  t.equal(s.uplink.status, 'backoff')
  t.equal(s.captured.find('uplink down; buffering').length, 1)
  // PUBACKs that arrive from the dead connection are ignored.
  first.sent[2]!.cb(null)
  await until(() => s.conns.length === 2)
  const second = s.conns[1]!
  second.accept()
  await until(() => second.sent.length === 4)
  t.same(second.sent.map((p) => p.id), ['gw-1-2', 'gw-1-3', 'gw-1-4', 'gw-1-5'], 'oldest unacked first, nothing acked twice')
  t.same(s.spool.acks, [0, 1])
  for (const p of second.sent) p.cb(null)
  await until(() => s.spool.stats().pending === 0)
  t.equal(s.uplink.stats().reconnects, 1)
  t.match(s.uplink.stats(), { sent: 10, acked: 6, inFlight: 0 })
})

t.test('no PUBACK within ackTimeoutMs: cut the connection, reconnect, re-send', async (t) => {
  const s = setup(t, { ackTimeoutMs: 60 })
  s.spool.append()
  s.uplink.start()
  s.conns[0]!.accept()
  await until(() => s.conns[0]!.sent.length === 1)
  await until(() => s.conns[0]!.destroyed)
  t.match(s.uplink.stats().lastError, /no PUBACK within 60 ms/)
  t.equal(s.captured.find('not working; closing it').length, 1)
  await until(() => s.conns.length === 2)
  s.conns[1]!.accept()
  await until(() => s.conns[1]!.sent.length === 1)
  t.equal(s.conns[1]!.sent[0]!.id, 'gw-1-0')
  s.conns[1]!.sent[0]!.cb(null)
  await until(() => s.spool.stats().pending === 0)
})

t.test('the server Receive Maximum caps the window', async (t) => {
  const s = setup(t, { window: 10 })
  for (let i = 0; i < 10; i++) s.spool.append()
  s.uplink.start()
  s.conns[0]!.accept({ receiveMaximum: 2 })
  await until(() => s.conns[0]!.sent.length === 2)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.conns[0]!.sent.length, 2)
})

t.test('a server DISCONNECT is logged with its reason; session takeover as error', async (t) => {
  const s = setup(t)
  s.uplink.start()
  s.conns[0]!.accept()
  await until(() => s.uplink.status === 'connected')
  s.conns[0]!.handlers.onDisconnect({ cmd: 'disconnect', reasonCode: 0x8e })
  s.conns[0]!.handlers.onClose()
  t.equal(s.captured.find('disconnected by the server')[0]?.level, 50)
  t.equal(s.uplink.stats().lastError, 'server sent DISCONNECT 0x8e')
})

t.test('stop while connected: waits for the client end, leaves unacked records, status stopped', async (t) => {
  const s = setup(t)
  s.spool.append()
  s.spool.append()
  s.uplink.start()
  s.conns[0]!.accept()
  await until(() => s.conns[0]!.sent.length === 2)
  s.conns[0]!.sent[0]!.cb(null)
  await s.uplink.stop()
  t.ok(s.conns[0]!.ended, 'graceful end, not destroy')
  t.equal(s.uplink.status, 'stopped')
  t.equal(s.spool.stats().pending, 1, 'the unacked record stays in the spool')
  s.spool.append()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.conns.length, 1, 'no reconnect after stop')
  t.equal(s.conns[0]!.sent.length, 2, 'no publish after stop')
  t.same(s.statuses.slice(-2), ['stopping', 'stopped'])
  s.uplink.start()
  t.equal(s.conns.length, 1, 'start after stop does nothing')
})

t.test('stop during backoff cancels the reconnect', async (t) => {
  const s = setup(t, { reconnect: { ...options.reconnect, initialDelayMs: 50 } })
  s.uplink.start()
  s.conns[0]!.fail('ECONNREFUSED')
  await until(() => s.uplink.status === 'backoff')
  await s.uplink.stop()
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.equal(s.conns.length, 1)
  t.equal(s.uplink.status, 'stopped')
})

t.test('stop while connecting destroys the attempt', async (t) => {
  const s = setup(t)
  s.uplink.start()
  await s.uplink.stop()
  t.ok(s.conns[0]!.destroyed)
  t.equal(s.uplink.status, 'stopped')
})
