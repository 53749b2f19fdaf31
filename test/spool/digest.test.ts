import t from 'tap'
import { eventDigest } from '../../src/spool/digest.js'

const base = { topic: 'sensors/a/temp', qos: 1 as const, retain: false, payload: Buffer.from('{"t":21.5}') }

t.test('same content, same digest; any field changed, another', async (t) => {
  const d = eventDigest(base)
  t.ok(Number.isSafeInteger(d) && d >= 0)
  t.equal(eventDigest({ ...base, payload: Buffer.from('{"t":21.5}') }), d)
  const variants = [
    { ...base, topic: 'sensors/a/tempx' },
    { ...base, qos: 2 as const },
    { ...base, retain: true },
    { ...base, payload: Buffer.from('{"t":21.6}') },
    { ...base, payload: Buffer.concat([base.payload, Buffer.from([0])]) },
    { ...base, payload: Buffer.alloc(0) },
  ]
  for (const v of variants) t.not(eventDigest(v), d)
})

t.test('no collisions over many near-identical payloads', async (t) => {
  const seen = new Set<number>()
  for (let i = 0; i < 200_000; i++) seen.add(eventDigest({ ...base, payload: Buffer.from(`{"t":${i}}`) }))
  t.equal(seen.size, 200_000)
})
