import t, { type Test } from 'tap'
import { ErrorWithReasonCode, type IClientPublishOptions } from 'mqtt'
import { batchOverheadBytes, createBatchBuilder } from '../../src/uplink/batch-builder.js'
import { createForwarder, type ForwarderCounters, type ForwarderOptions } from '../../src/uplink/forwarder.js'
import { createPacketBuilder } from '../../src/uplink/packet-builder.js'
import { createRateLimiter } from '../../src/uplink/rate-limiter.js'
import { compileTopicTemplate } from '../../src/uplink/topic-template.js'
import type { PublishCallback } from '../../src/uplink/types.js'
import { decodeBatch, isBatch } from '../../src/wire/batch-codec.js'
import { captureLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'

/** Batched mode, rate limit, historical marker and the solo send, against a recording fake client. */

interface Call { topic: string; payload: Buffer; opts: IClientPublishOptions; cb: PublishCallback }

function setup(t: Test, over: Partial<ForwarderOptions> = {}, spool: MemorySpool = createMemorySpool()) {
  const calls: Call[] = []
  const dead: string[] = []
  const counters: ForwarderCounters = { sent: 0, acked: 0, rejected: 0, retried: 0 }
  const captured = captureLog()
  const fwd = createForwarder({
    spool,
    client: { publish(topic, payload, opts, cb) { calls.push({ topic, payload, opts, cb }) } },
    build: createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('up/{topic}', 'gw') }),
    window: 2,
    ackTimeoutMs: 10_000,
    maxAttempts: 3,
    retryDelayMs: 30,
    counters,
    settling: new Set(),
    log: captured.log,
    onDead: (reason) => dead.push(reason),
    onError: () => {},
    ...over,
  })
  t.teardown(() => fwd.close())
  return { spool, fwd, calls, dead, counters, captured }
}

const batchOptions = (maxEvents: number, over: { maxBytes?: number; lingerMs?: number } = {}) => ({
  maxEvents,
  maxBytes: over.maxBytes ?? 1_000_000,
  lingerMs: over.lingerMs ?? 0,
  overheadBytes: batchOverheadBytes('gw'),
  build: createBatchBuilder({ gatewayId: 'gw', topic: 'outpost/gw/batch', protocolVersion: 5 }),
})

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

const ids = (c: Call) => decodeBatch(c.payload).events.map((e) => e.id)

t.test('batched: a backlog goes as full batches, oldest first, one window slot each, acked as a unit', async (t) => {
  const s = setup(t, { batch: batchOptions(4) })
  for (let i = 0; i < 10; i++) s.spool.append({ clientId: i % 2 === 0 ? 'a' : 'b', payload: Buffer.from([i]) })
  s.fwd.start()
  await until(() => s.calls.length === 2)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.calls.length, 2, 'window of 2 batches')
  const c0 = s.calls[0]!
  t.equal(c0.topic, 'outpost/gw/batch')
  t.ok(isBatch(c0.payload))
  t.same(ids(c0), ['gw-1-0', 'gw-1-1', 'gw-1-2', 'gw-1-3'])
  t.same(ids(s.calls[1]!), ['gw-1-4', 'gw-1-5', 'gw-1-6', 'gw-1-7'])
  t.equal(c0.opts.qos, 1)
  t.equal(c0.opts.retain, false)
  t.equal(c0.opts.properties?.contentType, 'application/vnd.outpost.batch+cbor')
  t.same(c0.opts.properties?.userProperties, { 'outpost-batch': '1', 'outpost-count': '4' })
  const first = decodeBatch(c0.payload).events[0]!
  t.match(first, { clientId: 'a', topic: 'sensors/t', qos: 1, retain: false, historical: false })
  t.same(Buffer.from(first.payload), Buffer.from([0]))
  t.equal(s.fwd.recordsInFlight, 8)
  t.equal(s.fwd.oldestInFlight()?.seq, 0)

  s.calls[1]!.cb(null)
  await until(() => s.calls.length === 3)
  t.same(s.spool.acks, [4, 5, 6, 7], 'one PUBACK acks all four')
  t.equal(s.spool.ackManyCalls, 1, 'in one call to the spool')
  t.same(ids(s.calls[2]!), ['gw-1-8', 'gw-1-9'], 'the rest goes as a partial batch once the spool is drained')
  s.calls[0]!.cb(null)
  s.calls[2]!.cb(null)
  await until(() => s.spool.stats().pending === 0)
  t.same(s.counters, { sent: 3, acked: 10, rejected: 0, retried: 0 })
  t.equal(s.fwd.acked, 10)
})

t.test('batched: maxBytes bounds a batch; an event larger than maxBytes goes alone', async (t) => {
  const maxBytes = 1200
  const s = setup(t, { window: 10, batch: batchOptions(100, { maxBytes }) })
  for (let i = 0; i < 6; i++) s.spool.append({ payload: Buffer.alloc(300, i) })
  s.spool.append({ payload: Buffer.alloc(5000, 9) })
  s.spool.append({ payload: Buffer.alloc(10, 1) })
  s.fwd.start()
  await until(() => s.calls.reduce((n, c) => n + decodeBatch(c.payload).events.length, 0) === 8)
  for (const c of s.calls) {
    const n = decodeBatch(c.payload).events.length
    if (n > 1) t.ok(c.payload.byteLength <= maxBytes, `a batch of ${n} is ${c.payload.byteLength} <= ${maxBytes} bytes`)
  }
  t.ok(s.calls.some((c) => decodeBatch(c.payload).events.length === 3), 'three 300-byte events fit in 1200 bytes with the overhead')
  t.ok(s.calls.some((c) => ids(c).length === 1 && ids(c)[0] === 'gw-1-6'), 'the big one alone')
  t.same(s.calls.flatMap(ids), Array.from({ length: 8 }, (_, i) => `gw-1-${i}`), 'order kept across batches')
})

t.test('batched: a partial batch waits lingerMs for company', async (t) => {
  const s = setup(t, { batch: batchOptions(100, { lingerMs: 150 }) })
  s.fwd.start()
  s.spool.append()
  s.fwd.wake()
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(s.calls.length, 0, 'not yet: lingering')
  s.spool.append()
  s.fwd.wake()
  await until(() => s.calls.length === 1)
  t.same(ids(s.calls[0]!), ['gw-1-0', 'gw-1-1'], 'both in one batch')
})

t.test('batched: a transient refusal retries the whole batch; a permanent one rejects every event in it', async (t) => {
  const s = setup(t, { window: 1, batch: batchOptions(3), maxAttempts: 2, retryDelayMs: 20 })
  for (let i = 0; i < 6; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 1)
  s.calls[0]!.cb(new ErrorWithReasonCode('Publish error: 151', 0x97))
  await until(() => s.calls.length === 2)
  t.same(ids(s.calls[1]!), ['gw-1-0', 'gw-1-1', 'gw-1-2'], 'same batch again')
  t.same(s.spool.attemptsNoted, [0, 1, 2], 'an attempt noted for each event')
  s.calls[1]!.cb(new ErrorWithReasonCode('Publish error: 151', 0x97))
  await until(() => s.spool.rejected.length === 3)
  t.match(s.spool.rejected[0]!.reason, /PUBACK 0x97 Quota exceeded \(2 attempts\) \(a batch of 3\)/)
  t.same(s.spool.rejected.map((r) => r.event.attempts), [1, 1, 1], 'the rejected events carry the refusals before the last')
  t.same(s.spool.rejected.map((r) => r.event.id), ['gw-1-0', 'gw-1-1', 'gw-1-2'], 'and every other field')
  t.equal(s.spool.rejected[0]!.event.clientId, 'dev-1')
  await until(() => s.calls.length === 3)
  s.calls[2]!.cb(new ErrorWithReasonCode('Publish error: 135', 0x87))
  await until(() => s.spool.rejected.length === 6)
  t.same(s.spool.rejected.map((r) => r.event.seq), [0, 1, 2, 3, 4, 5])
  t.equal(s.spool.rejected[5]!.reasonCode, 0x87)
  t.equal(s.spool.stats().pending, 0)
})

t.test('historical: events older than historicalAfterMs carry the mark, plain and batched', async (t) => {
  let wall = 1_000_000
  const spool = createMemorySpool()
  const old = spool.append()
  const fresh = spool.append()
  // acceptedAt is wall-clock time: make the first one 10 s old.
  wall = fresh.acceptedAt + 100
  Object.assign(old, { acceptedAt: fresh.acceptedAt - 10_000 })
  const plain = setup(t, { historicalAfterMs: 5000, wallClock: () => wall }, spool)
  plain.fwd.start()
  await until(() => plain.calls.length === 2)
  t.equal(plain.calls[0]!.opts.properties?.userProperties?.['outpost-historical'], '1')
  t.equal(plain.calls[1]!.opts.properties?.userProperties?.['outpost-historical'], undefined)
  plain.fwd.close()

  const json = setup(t, {
    historicalAfterMs: 5000, wallClock: () => wall,
    build: createPacketBuilder({ protocolVersion: 4, envelope: 'json', upstreamTopic: compileTopicTemplate('up/{topic}', 'gw') }),
  }, spool)
  json.fwd.start()
  await until(() => json.calls.length === 2)
  t.equal(JSON.parse(json.calls[0]!.payload.toString()).historical, true)
  t.notOk('historical' in JSON.parse(json.calls[1]!.payload.toString()), 'absent when not historical')
  json.fwd.close()

  const batched = setup(t, { historicalAfterMs: 5000, wallClock: () => wall, batch: batchOptions(10) }, spool)
  batched.fwd.start()
  await until(() => batched.calls.length === 1)
  t.same(decodeBatch(batched.calls[0]!.payload).events.map((e) => e.historical), [true, false])
  batched.fwd.close()

  const off = setup(t, { historicalAfterMs: null, wallClock: () => wall }, spool)
  off.fwd.start()
  await until(() => off.calls.length === 2)
  t.equal(off.calls[0]!.opts.properties?.userProperties?.['outpost-historical'], undefined, 'off: never marked')
})

t.test('rate limit: sends a burst, then waits for tokens (with a fake clock)', async (t) => {
  let clock = 0
  const rate = createRateLimiter({ eventsPerSec: 5, bytesPerSec: 0 }, clock)
  const s = setup(t, { window: 100, rate, now: () => clock })
  for (let i = 0; i < 12; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 5)
  for (const c of s.calls) c.cb(null)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(s.calls.length, 5, 'a one-second burst of 5, then nothing while the clock stands still')
  clock = 400
  // The forwarder set one timer; wake it by hand rather than waiting for it.
  s.fwd.wake()
  await until(() => s.calls.length === 7)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.calls.length, 7, '0.4 s later: 2 more')
})

t.test('solo: after the probe, only the suspect goes, alone; once acked the full window is back', async (t) => {
  const s = setup(t, { window: 5, solo: { seq: 0, probeMs: 40 } })
  for (let i = 0; i < 6; i++) s.spool.append()
  s.fwd.start()
  await new Promise((resolve) => setTimeout(resolve, 15))
  t.equal(s.calls.length, 0, 'nothing during the probe')
  await until(() => s.calls.length === 1)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(s.calls.length, 1, 'the suspect alone')
  t.equal(s.calls[0]!.opts.properties?.userProperties?.['outpost-id'], 'gw-1-0')
  t.equal(s.fwd.recordsInFlight, 1)
  s.calls[0]!.cb(null)
  await until(() => s.calls.length === 6)
  t.same(s.spool.acks, [0])
})

t.test('solo in batched mode: the suspect goes as a batch of one', async (t) => {
  const s = setup(t, { window: 5, solo: { seq: 0, probeMs: 10 }, batch: batchOptions(100) })
  for (let i = 0; i < 6; i++) s.spool.append()
  s.fwd.start()
  await until(() => s.calls.length === 1)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(ids(s.calls[0]!), ['gw-1-0'])
  t.equal(s.calls.length, 1)
  s.calls[0]!.cb(null)
  await until(() => s.calls.length === 2)
  t.same(ids(s.calls[1]!), ['gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-4', 'gw-1-5'])
})

t.test('a backlog many read-aheads long goes out complete and in order, plain and batched', async (t) => {
  for (const mode of ['plain', 'batched'] as const) {
    const spool = createMemorySpool()
    for (let i = 0; i < 3000; i++) spool.append({ clientId: `d${i % 7}` })
    const sent: string[] = []
    const fwd = createForwarder({
      spool,
      client: {
        publish(_topic, payload, opts, cb) {
          if (mode === 'batched') sent.push(...decodeBatch(payload).events.map((e) => e.id))
          else sent.push(String(opts.properties?.userProperties?.['outpost-id']))
          setImmediate(cb, null)
        },
      },
      build: createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('up/{topic}', 'gw') }),
      window: 16,
      ackTimeoutMs: 10_000,
      maxAttempts: 3,
      retryDelayMs: 30,
      counters: { sent: 0, acked: 0, rejected: 0, retried: 0 },
      settling: new Set(),
      log: captureLog().log,
      onDead: () => {},
      onError: () => {},
      ...(mode === 'batched' ? { batch: batchOptions(100) } : {}),
    })
    t.teardown(() => fwd.close())
    fwd.start()
    // Appends while the backlog drains are picked up too.
    setTimeout(() => { for (let i = 0; i < 50; i++) { spool.append(); fwd.wake() } }, 5)
    await until(() => spool.stats().pending === 0, 10_000)
    t.same(sent, Array.from({ length: 3050 }, (_, i) => `gw-1-${i}`), `${mode}: every record once, in seq order`)
  }
})

t.test('batched: the server Maximum Packet Size bounds batches; only an event too large alone is rejected', async (t) => {
  const s = setup(t, { window: 10, batch: batchOptions(100), maxPacketSize: 1400 })
  for (let i = 0; i < 6; i++) s.spool.append({ payload: Buffer.alloc(300, i) })
  s.spool.append({ payload: Buffer.alloc(2000, 9) })
  s.spool.append({ payload: Buffer.alloc(10, 1) })
  s.fwd.start()
  await until(() => s.calls.reduce((n, c) => n + decodeBatch(c.payload).events.length, 0) === 7 && s.spool.rejected.length === 1)
  for (const c of s.calls) t.ok(c.payload.byteLength <= 1400 - 512, `batch payload ${c.payload.byteLength} bytes leaves room for the header`)
  t.ok(s.calls.some((c) => ids(c).length > 1), 'still batching')
  t.equal(s.spool.rejected[0]!.event.id, 'gw-1-6')
  t.match(s.spool.rejected[0]!.reason, /Maximum Packet Size \(1400 bytes\)/)
  t.same(s.calls.flatMap(ids), ['gw-1-0', 'gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-4', 'gw-1-5', 'gw-1-7'])
})

t.test('a failed read-ahead is reported once awaited, never unhandled, and the read is tried again', async (t) => {
  const spool = createMemorySpool()
  for (let i = 0; i < 600; i++) spool.append()
  let reads = 0
  const flaky: MemorySpool = Object.assign(Object.create(spool) as MemorySpool, {
    readAfter(after: number, limit: number) {
      reads++
      // The second read is the prefetch started while the first chunk is sent.
      return reads === 2 ? Promise.reject(new Error('disk says no')) : spool.readAfter(after, limit)
    },
  })
  const errors: string[] = []
  const sent: string[] = []
  const fwd = createForwarder({
    spool: flaky,
    client: { publish(_topic, _payload, opts, cb) { sent.push(String(opts.properties?.userProperties?.['outpost-id'])); setImmediate(cb, null) } },
    build: createPacketBuilder({ protocolVersion: 5, envelope: 'none', upstreamTopic: compileTopicTemplate('up/{topic}', 'gw') }),
    window: 4,
    ackTimeoutMs: 10_000,
    maxAttempts: 3,
    retryDelayMs: 30,
    counters: { sent: 0, acked: 0, rejected: 0, retried: 0 },
    settling: new Set(),
    log: captureLog().log,
    onDead: () => {},
    onError: (message) => errors.push(message),
  })
  t.teardown(() => fwd.close())
  fwd.start()
  await until(() => spool.stats().pending === 0, 10_000)
  t.same(errors, ['spool read failed: disk says no'])
  t.same(sent, Array.from({ length: 600 }, (_, i) => `gw-1-${i}`), 'every record once, in order, after the retry')
})
