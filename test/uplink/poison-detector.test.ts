import t from 'tap'
import { createPoisonDetector, type ConnectionEnd } from '../../src/uplink/poison-detector.js'

/** The poison verdicts alone: how connections ended in, what to do out. */

const drop = (seq: number | null, over: Partial<ConnectionEnd> = {}): ConnectionEnd => ({
  oldestInFlight: seq, recordsInFlight: seq === null ? 0 : 5, acked: 0, byServer: true, ...over,
})

t.test('K server drops on the same head: solo; one more drop with it alone: reject', async (t) => {
  const d = createPoisonDetector(3)
  t.same(d.connectionEnded(drop(7)), { kind: 'none' })
  t.same(d.connectionEnded(drop(7)), { kind: 'none' })
  t.equal(d.solo, null)
  t.same(d.connectionEnded(drop(7)), { kind: 'solo', seq: 7, drops: 3 })
  t.equal(d.solo, 7, 'the next connection sends 7 alone')
  t.same(d.connectionEnded(drop(7, { recordsInFlight: 1 })), { kind: 'reject', seq: 7, drops: 4 })
  t.equal(d.solo, null, 'back to normal after the verdict')
  t.same(d.connectionEnded(drop(8)), { kind: 'none' }, 'counting starts again for the next head')
})

t.test('an ack, our own cut, or nothing in flight resets the count', async (t) => {
  for (const reset of [drop(7, { acked: 1 }), drop(7, { byServer: false }), drop(null)]) {
    const d = createPoisonDetector(2)
    d.connectionEnded(drop(7))
    t.same(d.connectionEnded(reset), { kind: 'none' })
    t.same(d.connectionEnded(drop(7)), { kind: 'none' }, 'one drop counted after the reset, not two')
    t.same(d.connectionEnded(drop(7)), { kind: 'solo', seq: 7, drops: 2 })
  }
})

t.test('a different head starts a new count', async (t) => {
  const d = createPoisonDetector(2)
  d.connectionEnded(drop(7))
  t.same(d.connectionEnded(drop(8)), { kind: 'none' })
  t.same(d.connectionEnded(drop(8)), { kind: 'solo', seq: 8, drops: 2 })
})

t.test('solo connection that does not end with the suspect alone in flight: no verdict, normal again', async (t) => {
  const cases: ConnectionEnd[] = [
    drop(null), // dropped during the probe: the connection itself is bad, not the record
    drop(7, { byServer: false, recordsInFlight: 1 }), // our ack timeout: a black hole, not a refusal
    drop(7, { acked: 1, recordsInFlight: 1 }),
    drop(9, { recordsInFlight: 1 }),
  ]
  for (const end of cases) {
    const d = createPoisonDetector(1)
    t.same(d.connectionEnded(drop(7)), { kind: 'solo', seq: 7, drops: 1 })
    t.same(d.connectionEnded(end), { kind: 'none' }, JSON.stringify(end))
    t.equal(d.solo, null)
  }
})

t.test('0 = off', async (t) => {
  const d = createPoisonDetector(0)
  for (let i = 0; i < 10; i++) t.same(d.connectionEnded(drop(7, { recordsInFlight: 1 })), { kind: 'none' })
  t.equal(d.solo, null)
})
