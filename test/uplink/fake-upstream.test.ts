import t, { type Test } from 'tap'
import { ErrorCodes } from '../../src/errors.js'
import { createUplink } from '../../src/uplink/uplink.js'
import type { Uplink, UplinkOptions } from '../../src/uplink/types.js'
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js'
import { captureLog, type CapturedLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'
import { uplinkOptions, waitStatus } from '../helpers/uplink-harness.js'

/**
 * The uplink with the real MQTT.js connection against a scripted server on
 * 127.0.0.1 (test/helpers/fake-upstream.ts): poison records on a 3.1.1 link
 * that refuses by disconnecting, and black holes (connected, silent).
 */

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not met within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

interface Rig { fake: FakeUpstream; spool: MemorySpool; uplink: Uplink; captured: CapturedLog }

async function rig(t: Test, over: Partial<UplinkOptions>, fake?: FakeUpstream): Promise<Rig> {
  const up = fake ?? await startFakeUpstream()
  const spool = createMemorySpool()
  const captured = captureLog()
  const uplink = createUplink({
    options: uplinkOptions(up.url, { protocolVersion: 4, envelope: 'json', ...over }),
    gatewayId: 'gw',
    spool,
    log: captured.log,
  })
  t.teardown(async () => {
    await uplink.stop()
    await up.close()
  })
  return { fake: up, spool, uplink, captured }
}

const idOf = (payload: Buffer | string): string => JSON.parse(payload.toString()).id

t.test('3.1.1 broker that drops the link on one publish: the record is tried alone, then rejected; the rest flows', async (t) => {
  const fake = await startFakeUpstream()
  fake.refuse = (p) => p.topic === 'outpost/gw/forbidden'
  const r = await rig(t, { window: 8, poisonAfterDrops: 3, reconnect: { initialDelayMs: 20, maxDelayMs: 200, multiplier: 2, jitter: 0 } }, fake)
  r.spool.append({ topic: 'ok', payload: Buffer.from('a') })
  r.spool.append({ topic: 'ok', payload: Buffer.from('b') })
  const bad = r.spool.append({ topic: 'forbidden', payload: Buffer.from('x') })
  for (let i = 0; i < 5; i++) r.spool.append({ topic: 'ok', payload: Buffer.from(`c${i}`) })
  r.uplink.start()
  await until(() => r.spool.stats().pending === 0, 'backlog drained past the poison record')

  t.equal(r.spool.rejected.length, 1, 'exactly one record set aside')
  t.equal(r.spool.rejected[0]!.event.id, bad.id)
  t.match(r.spool.rejected[0]!.reason, /closed the connection 4 times in a row while this record was in flight \(the last time alone\)/)
  const acked = r.fake.acked.map((p) => idOf(p.payload as Buffer))
  t.same([...new Set(acked)], ['gw-1-0', 'gw-1-1', 'gw-1-3', 'gw-1-4', 'gw-1-5', 'gw-1-6', 'gw-1-7'], 'every other record delivered, in order')
  const soloConn = r.captured.find('sending it alone to check')
  t.equal(soloConn.length, 1, 'one solo connection')
  t.match(soloConn[0], { seq: bad.seq })
  const err = r.captured.find('moved it to the rejected store')
  t.equal(err.length, 1)
  t.match(err[0], { level: 50, code: ErrorCodes.UPLINK_POISON, id: bad.id, topic: 'forbidden' })
  t.equal(r.uplink.stats().rejected, 1)
  // First connection: a and b acked before the drop, so it does not count; then
  // 3 counted drops with it oldest in flight; then once alone.
  const refused = r.fake.publishes.filter((p) => p.topic === 'outpost/gw/forbidden')
  t.equal(refused.length, 5, 'sent 1 + 3 times in a window, then once alone')
})

t.test('poisonAfterDrops 0: never rejected, keeps trying', async (t) => {
  const fake = await startFakeUpstream()
  fake.refuse = (p) => p.topic === 'outpost/gw/forbidden'
  const r = await rig(t, { poisonAfterDrops: 0, reconnect: { initialDelayMs: 20, maxDelayMs: 100, multiplier: 2, jitter: 0 } }, fake)
  r.spool.append({ topic: 'forbidden' })
  r.spool.append({ topic: 'ok' })
  r.uplink.start()
  await until(() => fake.publishes.length >= 8, 'several attempts')
  t.same(r.spool.rejected, [])
  t.equal(r.spool.stats().pending, 2, 'everything still waiting')
  // The broker is fixed: both go through, in order.
  fake.refuse = () => false
  await until(() => r.spool.stats().pending === 0, 'drained once the broker accepts')
  t.same(r.fake.acked.map((p) => idOf(p.payload as Buffer)), ['gw-1-0', 'gw-1-1'])
})

t.test('black hole with publishes in flight: our ack timeout cuts it, which never counts as poison', async (t) => {
  const fake = await startFakeUpstream()
  const r = await rig(t, {
    ackTimeoutMs: 300, keepaliveSec: 60, poisonAfterDrops: 1,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100, multiplier: 2, jitter: 0 },
  }, fake)
  r.uplink.start()
  await waitStatus(r.uplink, 'connected')
  fake.ackNothing = true
  r.spool.append()
  r.spool.append()
  await until(() => r.captured.find('uplink connection is not working').length >= 3, 'three ack-timeout cuts')
  t.match(r.captured.find('uplink connection is not working')[0], { reason: 'no PUBACK within 300 ms (2 publishes in flight)' })
  t.same(r.spool.rejected, [], 'a silent link is not a refusal')
  t.equal(r.captured.find('sending it alone').length, 0, 'no solo check either')
  fake.ackNothing = false
  await until(() => r.spool.stats().pending === 0, 'delivered after the link heals')
  t.same(r.spool.rejected, [])
})

t.test('black hole while idle: the keepalive notices it, our backoff reconnects (MQTT.js reconnect off)', async (t) => {
  const fake = await startFakeUpstream()
  const r = await rig(t, { keepaliveSec: 1, reconnect: { initialDelayMs: 20, maxDelayMs: 100, multiplier: 2, jitter: 0 } }, fake)
  const statuses: string[] = []
  r.uplink.onStatus((s) => statuses.push(s))
  r.uplink.start()
  await waitStatus(r.uplink, 'connected')
  const connections = fake.connections
  fake.silent = true
  // keepalive 1 s: a PINGREQ after ~1 s, the verdict ~1.5 s after the last reschedule.
  await until(() => statuses.includes('backoff'), 'the dead idle link is noticed', 15_000)
  t.equal(r.uplink.stats().lastError, 'Keepalive timeout')
  t.ok(fake.pingreqs >= 1, 'a PINGREQ went unanswered')
  fake.silent = false
  await until(() => fake.connections > connections && r.uplink.status === 'connected', 'reconnected by our own backoff')
  r.spool.append()
  await until(() => r.spool.stats().pending === 0, 'forwarding works on the new connection')
  t.same(r.spool.rejected, [], 'keepalive cuts never count as poison')
})

t.test('graceful stop: in-flight PUBACKs are awaited, then DISCONNECT', async (t) => {
  const fake = await startFakeUpstream()
  fake.ackDelayMs = 300
  const r = await rig(t, { window: 8 }, fake)
  for (let i = 0; i < 5; i++) r.spool.append()
  r.uplink.start()
  await until(() => fake.publishes.length === 5, 'all five sent')
  t.equal(fake.acked.length, 0, 'none acked yet')
  await r.uplink.stop()
  t.equal(r.spool.stats().pending, 0, 'the late PUBACKs acked the spool')
  t.equal(r.uplink.status, 'stopped')
  await until(() => fake.disconnects === 1, 'DISCONNECT sent after the last PUBACK', 5000)
})

t.test('graceful stop gives up after ackTimeoutMs when PUBACKs never come', async (t) => {
  const fake = await startFakeUpstream()
  fake.ackNothing = true
  const r = await rig(t, { window: 8, ackTimeoutMs: 400 }, fake)
  r.spool.append()
  r.uplink.start()
  await until(() => fake.publishes.length === 1, 'sent')
  await r.uplink.stop()
  t.equal(r.uplink.status, 'stopped')
  t.equal(r.spool.stats().pending, 1, 'unacked record stays in the spool')
})
