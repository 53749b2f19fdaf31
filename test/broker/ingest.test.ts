import t from 'tap'
import { createIngest, type IncomingPublish } from '../../src/broker/ingest.js'
import { createForwardPredicate } from '../../src/broker/topic-filter.js'
import { ErrorCodes, OutpostError } from '../../src/errors.js'
import type { AppendResult, DedupHint, EventInput, SpoolWriter } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

interface Call { input: EventInput; hint: DedupHint | undefined; settle: (ok: boolean) => void }

function fakeSpool(): SpoolWriter & { calls: Call[] } {
  const calls: Call[] = []
  return {
    calls,
    append(input, hint) {
      return new Promise<AppendResult>((resolve, reject) => {
        calls.push({ input, hint, settle: (ok) => ok ? resolve({ seq: calls.length, id: 'x', duplicate: false }) : reject(new Error('disk full')) })
      })
    },
  }
}

function setup(storeQos0 = true) {
  const spool = fakeSpool()
  const cap = captureLog()
  const ingest = createIngest({
    spool, forwards: createForwardPredicate({ include: ['#'], exclude: ['local/#'] }), maxPayloadBytes: 10, storeQos0, log: cap.log,
  })
  const call = (client: { id: string } | null, p: Partial<IncomingPublish>) => {
    const result: { done: boolean; err: Error | null | undefined } = { done: false, err: undefined }
    ingest.authorizePublish(client, { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, ...p }, (err) => {
      result.done = true
      result.err = err
    })
    return result
  }
  return { spool, ingest, call, cap }
}

const tick = () => new Promise((r) => setImmediate(r))

t.test('QoS 1 is acknowledged only after the append resolves', async (t) => {
  const { spool, call } = setup()
  const r = call({ id: 'dev' }, { messageId: 5, dup: false })
  await tick()
  t.equal(r.done, false, 'no callback while the write is pending')
  t.same(spool.calls[0]!.hint, { messageId: 5, retransmit: false })
  t.equal(spool.calls[0]!.input.clientId, 'dev')
  spool.calls[0]!.settle(true)
  await tick()
  t.equal(r.done, true)
  t.equal(r.err, null)
})

t.test('a failed write is not acknowledged', async (t) => {
  const { spool, call, ingest, cap } = setup()
  const r = call({ id: 'dev' }, { qos: 2, messageId: 9, dup: true })
  t.same(spool.calls[0]!.hint, { messageId: 9, retransmit: true })
  spool.calls[0]!.settle(false)
  await tick()
  t.ok(r.err instanceof Error, 'callback carries an error, so aedes sends no PUBACK/PUBREC')
  t.equal(ingest.stats.writeErrors, 1)
  t.equal(cap.find('could not store event').length, 1)
})

t.test('QoS 0 is delivered at once and stored when configured', async (t) => {
  const { spool, call } = setup(true)
  const r = call({ id: 'dev' }, { qos: 0 })
  t.equal(r.done, true)
  t.equal(spool.calls.length, 1)
  const off = setup(false)
  off.call({ id: 'dev' }, { qos: 0 })
  t.equal(off.spool.calls.length, 0)
})

t.test('topics not forwarded, $SYS and oversized payloads', async (t) => {
  const { spool, call, ingest } = setup()
  t.equal(call({ id: 'd' }, { topic: 'local/x' }).err, null, 'not forwarded: delivered locally only')
  t.match(call({ id: 'd' }, { topic: '$SYS/x' }).err, { code: 'OUTPOST_BROKER_SYS_TOPIC' })
  t.match(call({ id: 'd' }, { payload: Buffer.alloc(11) }).err, { code: 'OUTPOST_BROKER_PAYLOAD_TOO_LARGE' })
  t.equal(spool.calls.length, 0)
  t.equal(ingest.stats.notForwarded, 1)
  t.equal(ingest.stats.refused, 2)
})

t.test('will of a client from a previous run: no client object, id from the packet', async (t) => {
  const { spool, call } = setup()
  call(null, { clientId: 'gone', payload: 'offline', messageId: undefined })
  t.equal(spool.calls[0]!.input.clientId, 'gone')
  t.same(Buffer.from(spool.calls[0]!.input.payload).toString(), 'offline')
  t.equal(spool.calls[0]!.hint, undefined)
})

// Backpressure: a spool that refuses with OUTPOST_SPOOL_FULL while `full`, and says when it has room.
function fullSpool() {
  const stored: string[] = []
  const listeners = new Set<() => void>()
  const s = {
    full: true,
    stored,
    attempts: 0,
    append(input: EventInput) {
      s.attempts++
      if (s.full) return Promise.reject(new OutpostError(ErrorCodes.SPOOL_FULL, 'spool holds too much'))
      stored.push(Buffer.from(input.payload).toString())
      return Promise.resolve({ seq: stored.length, id: `x-${stored.length}`, duplicate: false })
    },
    onWritable(l: () => void) {
      listeners.add(l)
      return () => { listeners.delete(l) }
    },
    room() {
      s.full = false
      for (const l of [...listeners]) l()
    },
    listeners,
  }
  return s
}

function setupHold(holdMs: number, maxHeld = 100) {
  const spool = fullSpool()
  const cap = captureLog()
  const ingest = createIngest({
    spool, forwards: () => true, maxPayloadBytes: 1000, storeQos0: true, log: cap.log, holdMs, maxHeld,
  })
  const call = (clientId: string, payload: string, qos: 0 | 1 = 1) => {
    const r: { done: boolean; err: Error | null | undefined } = { done: false, err: undefined }
    ingest.authorizePublish({ id: clientId }, { topic: 't', payload: Buffer.from(payload), qos, retain: false, messageId: 1 }, (err) => {
      r.done = true
      r.err = err
    })
    return r
  }
  return { spool, ingest, call, cap }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

t.test('full spool: publishes are held without PUBACK and acknowledged in order once there is room', async (t) => {
  const { spool, call, ingest } = setupHold(60_000)
  const a1 = call('a', 'a1')
  const a2 = call('a', 'a2')
  const b1 = call('b', 'b1')
  await until(() => ingest.stats.hold.held === 3, 'three held')
  const attemptsWhileHeld = spool.attempts
  const a3 = call('a', 'a3')
  await tick()
  t.equal(spool.attempts, attemptsWhileHeld, 'a publish of a device with held ones waits behind them without trying the spool')
  t.equal(ingest.stats.hold.held, 4)
  t.notOk(a1.done || a2.done || a3.done || b1.done, 'nothing acknowledged while full')
  spool.room()
  await until(() => a3.done && b1.done, 'all acknowledged')
  t.same([a1.err, a2.err, a3.err, b1.err], [null, null, null, null])
  t.same(spool.stored.filter((p) => p.startsWith('a')), ['a1', 'a2', 'a3'], 'one device\'s events are stored in order')
  t.equal(ingest.stats.hold.held, 0)
  t.equal(ingest.stats.hold.heldThenStored, 4)
  t.equal(ingest.stats.stored, 4)
  t.equal(spool.listeners.size, 0, 'no listener left once nothing is held')
})

t.test('full spool past holdMs: the device\'s held publishes are refused together', async (t) => {
  const { spool, call, ingest, cap } = setupHold(30)
  const a1 = call('a', 'a1')
  const a2 = call('a', 'a2')
  await until(() => a1.done && a2.done, 'refusal')
  t.match(a1.err, { code: 'OUTPOST_SPOOL_FULL' }, 'refused with the spool\'s error, so aedes closes the connection without PUBACK')
  t.match(a2.err, { code: 'OUTPOST_SPOOL_FULL' })
  t.equal(ingest.stats.hold.heldRefused, 2)
  t.equal(ingest.stats.hold.held, 0)
  t.ok(cap.find('closing the device connection').length >= 1, 'the refusal is logged')
  spool.room()
  const a3 = call('a', 'a3')
  await until(() => a3.done, 'ack after room')
  t.equal(a3.err, null, 'once there is room, publishes are acknowledged again')
  t.same(spool.stored, ['a3'])
})

t.test('full spool: beyond maxHeld a publish is refused at once; holdMs 0 never holds', async (t) => {
  const { call, ingest } = setupHold(60_000, 1)
  const a1 = call('a', 'a1')
  const b1 = call('b', 'b1')
  await until(() => b1.done, 'b refused')
  t.match(b1.err, { code: 'OUTPOST_SPOOL_FULL' })
  t.equal(a1.done, false, 'the first one is still held')
  ingest.close()
  await tick()
  t.match(a1.err, { code: 'OUTPOST_SPOOL_CLOSED' }, 'shutdown refuses what is held')

  const now = setupHold(0)
  const c1 = now.call('c', 'c1')
  await until(() => c1.done, 'c refused')
  t.match(c1.err, { code: 'OUTPOST_SPOOL_FULL' })
  t.equal(now.ingest.stats.hold.heldRefused, 1)
})

t.test('full spool: QoS 0 events are counted as dropped, the log is not flooded', async (t) => {
  const { call, ingest, cap } = setupHold(60_000)
  for (let i = 0; i < 5; i++) call('a', `q${i}`, 0)
  await until(() => ingest.stats.qos0Dropped === 5, 'five dropped')
  t.equal(cap.find('could not store a QoS 0 event').length, 1, 'one log line for a burst')
})

t.test('full spool: a release stops at the first refusal instead of trying every held device', async (t) => {
  const spool = Object.assign(fullSpool(), { room_left: 0 })
  const cap = captureLog()
  const writableSpool = {
    append: (input: EventInput) => {
      if (!spool.full && spool.room_left > 0) spool.room_left--
      else if (!spool.full) spool.full = true
      return spool.append(input)
    },
    onWritable: spool.onWritable,
    writable: () => !spool.full,
  }
  const ingest = createIngest({ spool: writableSpool, forwards: () => true, maxPayloadBytes: 1000, storeQos0: true, log: cap.log, holdMs: 60_000, maxHeld: 100 })
  const results = ['a', 'b', 'c', 'd'].map((id) => {
    const r: { done: boolean; err: Error | null | undefined } = { done: false, err: undefined }
    ingest.authorizePublish({ id }, { topic: 't', payload: Buffer.from(id), qos: 1, retain: false, messageId: 1 }, (err) => {
      r.done = true
      r.err = err
    })
    return r
  })
  await until(() => ingest.stats.hold.held === 4, 'four held')
  const before = spool.attempts
  spool.room_left = 1 // room for one event
  spool.room()
  await until(() => results.filter((r) => r.done).length === 1, 'one stored')
  await tick()
  t.ok(spool.attempts - before <= 2, `a release with room for one made ${spool.attempts - before} attempt(s), not one per held device`)
  t.equal(ingest.stats.hold.held, 3)
  ingest.close()
})
