import t, { type Test } from 'tap'
import { ErrorWithReasonCode, type IClientPublishOptions } from 'mqtt'
import { createForwarder, type ForwarderCounters, type ForwarderOptions } from '../../src/uplink/forwarder.js'
import { createPacketBuilder } from '../../src/uplink/packet-builder.js'
import { compileTopicTemplate } from '../../src/uplink/topic-template.js'
import type { PublishCallback } from '../../src/uplink/types.js'
import { captureLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'

/** The forwarder against a recording fake client: no sockets. */

interface Call { topic: string; payload: Buffer; opts: IClientPublishOptions; cb: PublishCallback; id: string }

function setup(t: Test, over: Partial<ForwarderOptions> = {}, spool: MemorySpool = createMemorySpool()) {
  const calls: Call[] = []
  const dead: string[] = []
  const errors: string[] = []
  const counters: ForwarderCounters = { sent: 0, acked: 0, rejected: 0, retried: 0 }
  const captured = captureLog()
  const fwd = createForwarder({
    spool,
    client: {
      publish(topic, payload, opts, cb) {
        calls.push({ topic, payload, opts, cb, id: String(opts.properties?.userProperties?.['outpost-id']) })
      },
    },
    build: createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('up/{topic}', 'gw') }),
    window: 3,
    ackTimeoutMs: 10_000,
    maxAttempts: 3,
    retryDelayMs: 30,
    counters,
    settling: new Set(),
    log: captured.log,
    onDead: (reason) => dead.push(reason),
    onError: (message) => errors.push(message),
    ...over,
  })
  t.teardown(() => fwd.close())
  return { spool, fwd, calls, dead, errors, counters, captured }
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

const refusal = (code: number) => new ErrorWithReasonCode(`Publish error: ${code}`, code)

t.test('keeps at most `window` in flight, in seq order, refills on PUBACK', async (t) => {
  const s = setup(t)
  for (let i = 0; i < 10; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 3)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.calls.length, 3, 'no more than the window')
  t.equal(s.fwd.inFlight, 3)
  s.calls[0]!.cb(null)
  await until(() => s.calls.length === 4)
  t.same(s.spool.acks, [0], 'PUBACK acks the spool')
  for (let i = 1; i < 10; i++) {
    await until(() => s.calls.length > i)
    s.calls[i]!.cb(null)
  }
  await until(() => s.spool.acks.length === 10)
  t.same(s.calls.map((c) => c.id), Array.from({ length: 10 }, (_, i) => `gw-1-${i}`), 'published in seq order')
  t.equal(s.calls[0]!.topic, 'up/sensors/t')
  t.equal(s.calls[0]!.opts.qos, 1)
  t.same(s.counters, { sent: 10, acked: 10, rejected: 0, retried: 0 })
  t.equal(s.spool.stats().pending, 0)
})

t.test('waits for appends when the spool is drained, reads nothing meanwhile', async (t) => {
  const s = setup(t)
  s.fwd.start()
  await new Promise((resolve) => setTimeout(resolve, 20))
  const reads = s.spool.reads
  t.equal(s.calls.length, 0)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.spool.reads, reads, 'no polling')
  s.spool.append()
  s.fwd.wake()
  await until(() => s.calls.length === 1)
  // An append while a read is under way is not lost.
  s.spool.append()
  s.fwd.wake()
  s.spool.append()
  s.fwd.wake()
  await until(() => s.calls.length === 3)
  t.same(s.calls.map((c) => c.id), ['gw-1-0', 'gw-1-1', 'gw-1-2'])
})

t.test('caught up: PUBACKs start no spool read; the next append does, and a refused record still retries', async (t) => {
  const s = setup(t) // window 3
  for (let i = 0; i < 2; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 2)
  // With room in the window the forwarder reads once more, finds nothing, and stops.
  let reads = s.spool.reads
  await until(() => {
    const settled = s.spool.reads === reads
    reads = s.spool.reads
    return settled
  })
  t.ok(reads >= 2, 'read until nothing was left')
  for (const c of s.calls) c.cb(null)
  await until(() => s.spool.acks.length === 2)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.spool.reads, reads, 'no read after the PUBACKs: nothing was appended')
  s.spool.append()
  s.fwd.wake()
  await until(() => s.calls.length === 3)
  t.equal(s.calls[2]!.id, 'gw-1-2')
  t.ok(s.spool.reads > reads, 'the append was read')
  // A transient refusal while caught up: the record goes again after retryDelayMs.
  s.calls[2]!.cb(refusal(0x97))
  await until(() => s.calls.length === 4)
  t.equal(s.calls[3]!.id, 'gw-1-2', 'the refused record is sent again')
  s.calls[3]!.cb(null)
  await until(() => s.spool.acks.length === 3)
  t.same(s.spool.acks, [0, 1, 2])
})

t.test('permanent refusal (0x87): rejected at once with reason and code, slot freed', async (t) => {
  const s = setup(t, { window: 1 })
  s.spool.append()
  s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 1)
  s.calls[0]!.cb(refusal(0x87))
  await until(() => s.spool.rejected.length === 1 && s.calls.length === 2)
  t.equal(s.spool.rejected[0]!.event.id, 'gw-1-0')
  t.equal(s.spool.rejected[0]!.reasonCode, 0x87)
  t.equal(s.spool.rejected[0]!.reason, 'PUBACK 0x87 Not authorized')
  t.same(s.spool.attemptsNoted, [], 'no retry')
  t.same(s.spool.acks, [])
  t.equal(s.counters.rejected, 1)
  const warn = s.captured.find('moved to the rejected store')[0]
  t.match(warn, { level: 40, id: 'gw-1-0', code: 0x87, reason: 'PUBACK 0x87 Not authorized' })
})

t.test('transient refusal (0x97): noted, retried later, later records not held back, rejected after maxAttempts', async (t) => {
  const s = setup(t, { window: 2, maxAttempts: 3, retryDelayMs: 30 })
  s.spool.append({ clientId: 'a' })
  s.spool.append({ clientId: 'a' })
  s.spool.append({ clientId: 'a' })
  s.fwd.start()
  await until(() => s.calls.length === 2)
  s.calls[0]!.cb(refusal(0x97))
  t.equal(s.fwd.inFlight, 1)
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(s.calls.length, 2, 'the waiting record keeps its slot')
  s.calls[1]!.cb(null)
  await until(() => s.calls.length === 3)
  t.equal(s.calls[2]!.id, 'gw-1-2', 'a later record goes before the retry (documented order exception)')
  s.calls[2]!.cb(null)
  await until(() => s.calls.length === 4)
  t.equal(s.calls[3]!.id, 'gw-1-0', 'retry after retryDelayMs')
  s.calls[3]!.cb(refusal(0x80))
  await until(() => s.calls.length === 5)
  t.equal(s.calls[4]!.id, 'gw-1-0')
  s.calls[4]!.cb(refusal(0x83))
  await until(() => s.spool.rejected.length === 1)
  t.same(s.spool.attemptsNoted, [0, 0], 'two attempts noted, the third refusal rejects')
  t.equal(s.spool.rejected[0]!.reason, 'PUBACK 0x83 Implementation specific error (3 attempts)')
  t.equal(s.spool.rejected[0]!.reasonCode, 0x83)
  t.same(s.counters, { sent: 5, acked: 2, rejected: 1, retried: 2 })
  t.equal(s.captured.find('will retry').length, 2)
  t.equal(s.spool.stats().pending, 0)
})

t.test('attempts already stored count: a record read with attempts = max-1 is rejected on its next refusal', async (t) => {
  const spool = createMemorySpool()
  spool.append()
  await spool.noteAttempt(0)
  await spool.noteAttempt(0)
  const s = setup(t, { maxAttempts: 3 }, spool)
  s.fwd.start()
  await until(() => s.calls.length === 1)
  s.calls[0]!.cb(refusal(0x97))
  await until(() => s.spool.rejected.length === 1)
  t.equal(s.counters.retried, 0)
})

t.test('no PUBACK within ackTimeoutMs: the connection is declared dead', async (t) => {
  const s = setup(t, { ackTimeoutMs: 60 })
  s.spool.append()
  s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 2)
  await new Promise((resolve) => setTimeout(resolve, 40))
  s.calls[0]!.cb(null)
  t.same(s.dead, [], 'not yet')
  await until(() => s.dead.length === 1)
  t.match(s.dead[0], /no PUBACK within 60 ms \(1 publishes in flight\)/)
})

t.test('acks that keep coming keep the connection alive', async (t) => {
  const s = setup(t, { ackTimeoutMs: 50, window: 1 })
  for (let i = 0; i < 8; i++) s.spool.append()
  s.fwd.start()
  for (let i = 0; i < 8; i++) {
    await until(() => s.calls.length > i)
    await new Promise((resolve) => setTimeout(resolve, 15))
    s.calls[i]!.cb(null)
  }
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.same(s.dead, [], '8 x 15 ms > ackTimeoutMs, but each PUBACK came in time')
})

t.test('a publish error without a reason code is a connection problem, not a refusal', async (t) => {
  const s = setup(t)
  s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 1)
  s.calls[0]!.cb(new Error('Connection closed'))
  t.same(s.dead, ['publish failed: Connection closed'])
  t.same(s.spool.rejected, [])
  t.same(s.spool.attemptsNoted, [])
  t.same(s.spool.acks, [])
})

t.test('after close, late callbacks are ignored and nothing more is sent', async (t) => {
  const s = setup(t)
  s.spool.append()
  s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 2)
  s.fwd.close()
  s.calls[0]!.cb(null)
  s.calls[1]!.cb(refusal(0x87))
  s.spool.append()
  s.fwd.wake()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(s.spool.acks, [])
  t.same(s.spool.rejected, [])
  t.equal(s.calls.length, 2)
  t.equal(s.fwd.inFlight, 0)
})

t.test('pause (graceful stop): PUBACKs still ack, nothing new is sent, no retry', async (t) => {
  const s = setup(t, { window: 2 })
  for (let i = 0; i < 4; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 2)
  s.fwd.pause()
  s.calls[0]!.cb(null)
  s.calls[1]!.cb(refusal(0x97))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.same(s.spool.acks, [0])
  t.same(s.spool.attemptsNoted, [1], 'the attempt is noted; the record waits in the spool')
  t.equal(s.calls.length, 2)
})

t.test('records that cannot be sent are rejected without publishing', async (t) => {
  const s = setup(t, {
    build: createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('up/{clientId}', 'gw') }),
    maxPacketSize: 200,
  })
  s.spool.append({ clientId: 'bad+id' })
  s.spool.append({ clientId: 'big', payload: Buffer.alloc(500) })
  s.spool.append({ clientId: 'ok' })
  s.fwd.start()
  await until(() => s.calls.length === 1 && s.spool.rejected.length === 2)
  t.equal(s.calls[0]!.topic, 'up/ok')
  t.match(s.spool.rejected[0]!.reason, /not a valid MQTT topic name/)
  t.match(s.spool.rejected[1]!.reason, /Maximum Packet Size \(200 bytes\)/)
  t.equal(s.spool.rejected[1]!.reasonCode, undefined, 'no PUBACK code for a local decision')
})

t.test('records whose reject is still being written are skipped', async (t) => {
  const settling = new Set([1])
  const s = setup(t, { settling })
  s.spool.append()
  s.spool.append()
  s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 2)
  t.same(s.calls.map((c) => c.id), ['gw-1-0', 'gw-1-2'])
})

t.test('a failed spool read is reported and tried again', async (t) => {
  const s = setup(t)
  s.spool.append()
  s.spool.failReads = new Error('disk gone')
  s.fwd.start()
  await until(() => s.errors.length === 1)
  t.same(s.errors, ['spool read failed: disk gone'])
  s.spool.failReads = null
  await until(() => s.calls.length === 1, 3000)
  t.pass('read again after the pause')
})

t.test('large payloads: the bytes in flight are bounded as well as the count', async (t) => {
  const s = setup(t, { window: 1024 })
  const big = Buffer.alloc(6 * 1024 * 1024, 1)
  for (let i = 0; i < 6; i++) s.spool.append({ payload: big })
  s.fwd.start()
  await until(() => s.calls.length === 3)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.calls.length, 3, '3 x 6 MiB: the third goes while 12 MiB < 16 MiB are out, then it waits')
  s.calls[0]!.cb(null)
  await until(() => s.calls.length === 4)
  t.equal(s.calls.length, 4, 'a PUBACK frees room for one more')
  for (const c of s.calls.slice(1)) c.cb(null)
  await until(() => s.calls.length === 6)
  s.calls[4]!.cb(null)
  s.calls[5]!.cb(null)
  await until(() => s.counters.acked === 6)
  t.equal(new Set(s.calls.map((c) => c.id)).size, 6, 'each record sent once')
  t.same(s.spool.acks, [0, 1, 2, 3, 4, 5].map((i) => s.spool.acks[0]! + i), 'acked in order')
  t.equal(s.spool.pendingEvents().length, 0, 'nothing left')
})
