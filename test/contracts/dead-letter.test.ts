import t from 'tap'
import { openDeadLetterStore } from '../../src/contracts/dead-letter.js'
import type { DeadLetterInput } from '../../src/contracts/types.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import { captureLog } from '../helpers/log.js'

const entry = (n: number, bytes = 10): DeadLetterInput => ({
  clientId: `dev-${n % 3}`, topic: `env/${n}/telemetry`, payload: Buffer.alloc(bytes, n), qos: 1, retain: false,
  reason: 'schema', errors: [`/n: bad ${n}`], deviceType: 'env-sensor', contractVersion: '1.0.0',
})

t.test('entries keep arrival order and survive a reopen', async (t) => {
  const dir = t.testdir({})
  const cap = captureLog()
  let store = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 100, maxBytes: 1 << 20, now: () => 1000 })
  await Promise.all(Array.from({ length: 10 }, (_, i) => store.add(entry(i))))
  await store.close()
  store = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 100, maxBytes: 1 << 20 })
  const all = await store.list()
  t.strictSame(all.map((e) => e.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.strictSame(all.map((e) => e.topic), Array.from({ length: 10 }, (_, i) => `env/${i}/telemetry`))
  t.match(all[3], { clientId: 'dev-0', reason: 'schema', errors: ['/n: bad 3'], at: 1000, deviceType: 'env-sensor', qos: 1 })
  t.strictSame([...all[3]!.payload], [...Buffer.alloc(10, 3)])
  t.strictSame((await store.list({ after: 6, limit: 2 })).map((e) => e.seq), [7, 8])
  t.equal(await store.remove([2, 3, 99]), 2, 'only existing entries count')
  t.equal(store.stats().entries, 8)
  await store.add(entry(10))
  t.equal((await store.list()).at(-1)!.seq, 10, 'sequence numbers are not reused after a reopen')
  await store.close()
})

t.test('bounded: the oldest are dropped, counted and logged', async (t) => {
  const cap = captureLog()
  const dir = t.testdir({})
  let store = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 5, maxBytes: 1 << 20 })
  for (let i = 0; i < 8; i++) await store.add(entry(i))
  t.strictSame((await store.list()).map((e) => e.seq), [3, 4, 5, 6, 7], 'newest five kept, in order')
  t.equal(store.stats().dropped, 3)
  t.equal(cap.find('dead-letter store full').length, 1, 'the first drop is logged')
  await store.close()
  store = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 5, maxBytes: 1 << 20 })
  t.equal(store.stats().dropped, 3, 'the drop count is persisted')
  await store.close()

  const bytesDir = t.testdir({})
  store = await openDeadLetterStore({ dir: bytesDir, log: cap.log, maxEntries: 1000, maxBytes: 1000 })
  for (let i = 0; i < 10; i++) await store.add(entry(i, 300))
  const s = store.stats()
  t.ok(s.bytes <= 1000, `stored bytes ${s.bytes} within the limit`)
  t.ok(s.dropped > 0 && s.entries + s.dropped === 10, 'every event is either kept or counted as dropped')
  t.equal((await store.list()).at(-1)!.seq, 9, 'the newest is kept')
  await store.close()
})

t.test('a store another process holds is a clear, typed error', async (t) => {
  const dir = t.testdir({})
  const cap = captureLog()
  const store = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 5, maxBytes: 1 << 20 })
  t.teardown(() => store.close())
  const err = await openDeadLetterStore({ dir, log: cap.log, maxEntries: 5, maxBytes: 1 << 20 }).catch((e: unknown) => e)
  t.ok(isOutpostError(err, ErrorCodes.DLQ_LOCKED), 'OUTPOST_DLQ_LOCKED')
  t.match((err as Error).message, /a gateway is running on this data directory; stop it first/)
})
