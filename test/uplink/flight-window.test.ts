import t from 'tap'
import type { StoredEvent } from '../../src/spool/types.js'
import { createFlightWindow } from '../../src/uplink/flight-window.js'

const ev = (seq: number): StoredEvent => ({
  seq, id: `gw-1-${seq}`, clientId: 'c', topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, acceptedAt: 0,
})

t.test('in-flight and parked records share the limit', async (t) => {
  const w = createFlightWindow(3)
  t.equal(w.free(), 3)
  w.sent(ev(1), 10)
  w.sent(ev(2), 20)
  t.equal(w.free(), 1)
  t.equal(w.settle(1)?.seq, 1)
  w.hold(ev(1))
  t.equal(w.free(), 1, 'a record waiting for its retry keeps its slot')
  t.equal(w.inFlight, 1)
  t.equal(w.waiting, 1)
  t.equal(w.release(1)?.seq, 1)
  t.equal(w.release(1), undefined, 'released once')
  t.equal(w.free(), 2)
})

t.test('settle is idempotent and ignores unknown seqs', async (t) => {
  const w = createFlightWindow(2)
  w.sent(ev(5), 0)
  t.ok(w.settle(5))
  t.equal(w.settle(5), undefined)
  t.equal(w.settle(99), undefined)
})

t.test('oldestSentAt follows send order', async (t) => {
  const w = createFlightWindow(5)
  t.equal(w.oldestSentAt(), undefined)
  w.sent(ev(1), 100)
  w.sent(ev(2), 200)
  w.sent(ev(3), 300)
  t.equal(w.oldestSentAt(), 100)
  w.settle(1)
  t.equal(w.oldestSentAt(), 200)
  w.settle(3)
  t.equal(w.oldestSentAt(), 200)
})

t.test('limit is at least 1 and can change; clear empties everything', async (t) => {
  const w = createFlightWindow(0)
  t.equal(w.free(), 1)
  w.setLimit(10)
  w.sent(ev(1), 0)
  w.hold(ev(2))
  t.equal(w.free(), 8)
  w.setLimit(1)
  t.equal(w.free(), 0, 'never negative')
  w.clear()
  t.equal(w.free(), 1)
  t.equal(w.inFlight + w.waiting, 0)
})

t.test('the window stamps what it holds with its send time, and gives back the same object', async (t) => {
  const w = createFlightWindow<{ seq: number; sentAt?: number; events: string[] }>(4)
  const flight: { seq: number; sentAt?: number; events: string[] } = { seq: 7, events: ['a'] }
  w.sent(flight, 1234)
  t.equal(flight.sentAt, 1234)
  t.equal(w.oldest(), flight)
  t.equal(w.settle(7), flight)
})
