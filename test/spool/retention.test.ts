import { ClassicLevel } from 'classic-level'
import t from 'tap'
import { admit, createDiscardRanges, trimTarget, type RetentionLimits } from '../../src/spool/retention.js'
import { openSpool, type SpoolOptions } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

const limits = (l: Partial<RetentionLimits>): RetentionLimits => ({ maxBytes: 0, maxAgeMs: 0, minFreeBytes: 0, onFull: 'reject', ...l })
const ev = (n: number, clientId = 'a'): EventInput => ({ clientId, topic: 'sensors/x', payload: Buffer.alloc(100, n % 256), qos: 1, retain: false })

function open(dir: string, extra: Partial<SpoolOptions> = {}) {
  const cap = captureLog()
  return openSpool({ dir, gatewayId: 'gw', log: cap.log, groupCommitMs: 1, ...extra }).then((spool) => ({ spool, cap }))
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

t.test('admission and trim rules', async (t) => {
  const state = { bytes: 900, freeBytes: 10_000, writable: true }
  t.equal(admit(state, limits({ maxBytes: 1000 }), 100), null, 'exactly at the limit fits')
  t.equal(admit(state, limits({ maxBytes: 1000 }), 101), 'max-bytes')
  t.equal(admit(state, limits({ minFreeBytes: 20_000 }), 1), 'min-free')
  t.equal(admit({ ...state, freeBytes: null }, limits({ minFreeBytes: 20_000 }), 1), null, 'free space not known yet: no refusal')
  t.equal(admit({ ...state, writable: false }, limits({ onFull: 'drop-oldest' }), 1), 'unavailable', 'a store that cannot write refuses under every policy')
  t.equal(admit(state, limits({ maxBytes: 100, onFull: 'drop-oldest' }), 1000), null, 'drop-oldest never refuses for a limit')
  t.same(trimTarget({ ...state, bytes: 1500 }, limits({ maxBytes: 1000, onFull: 'drop-oldest' })), { bytes: 500, reason: 'max-bytes' })
  t.same(trimTarget({ ...state, bytes: 1500 }, limits({ maxBytes: 1000 })), null, 'reject never trims')
  t.same(trimTarget(state, limits({ minFreeBytes: 10_500, onFull: 'drop-oldest' })), { bytes: 500, reason: 'min-free' })

  const ranges = createDiscardRanges()
  for (const seq of [3, 4, 5, 9]) ranges.add('expired', seq, `gw-1-${seq}`)
  ranges.add('dropped', 10, 'gw-1-10')
  t.same(ranges.take(), [
    { reason: 'expired', firstSeq: 3, lastSeq: 5, firstId: 'gw-1-3', lastId: 'gw-1-5', count: 3 },
    { reason: 'expired', firstSeq: 9, lastSeq: 9, firstId: 'gw-1-9', lastId: 'gw-1-9', count: 1 },
    { reason: 'dropped', firstSeq: 10, lastSeq: 10, firstId: 'gw-1-10', lastId: 'gw-1-10', count: 1 },
  ])
  t.same(ranges.take(), [], 'taking empties it')
})

t.test('maxBytes with reject: appends are refused until acks make room; bytes survive a restart', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir, { limits: { maxBytes: 10 * 160 } })
  let stored = 0
  let refused: unknown = null
  for (let i = 0; i < 50 && refused === null; i++) {
    await spool.append(ev(i)).then(() => { stored++ }, (err: unknown) => { refused = err })
  }
  t.match(refused, { code: 'OUTPOST_SPOOL_FULL' })
  t.ok(stored >= 5 && stored <= 10, `stored ${stored} before the limit`)
  const stats = spool.stats()
  t.ok(stats.bytes! <= 10 * 160, 'bytes stay under the limit')
  t.equal(stats.intake, 'max-bytes')
  t.equal(stats.refusedFull, 1)
  await t.rejects(spool.append(ev(99)), { code: 'OUTPOST_SPOOL_FULL' }, 'still full')

  let writable = 0
  const off = spool.onWritable(() => writable++)
  const [first] = await spool.readAfter(-1, 1)
  spool.ack(first!.seq)
  await until(() => writable > 0, 'the writable signal after an ack')
  off()
  await spool.append(ev(100))
  t.equal(spool.stats().pending, stored, 'one out, one in')
  const bytes = spool.stats().bytes
  await spool.close()

  const { spool: again } = await open(dir, { limits: { maxBytes: 10 * 160 } })
  t.equal(again.report.check, 'none', 'a clean open reads no records')
  t.equal(again.report.records, stored)
  t.equal(again.stats().bytes, bytes, 'the byte count comes back from the metadata')
  await again.close()
})

t.test('maxBytes with drop-oldest: the oldest are discarded, counted and logged as one range', async (t) => {
  const dir = t.testdir()
  const { spool, cap } = await open(dir, { limits: { maxBytes: 20 * 150, onFull: 'drop-oldest' } })
  const results = []
  for (let i = 0; i < 40; i++) results.push(await spool.append(ev(i)))
  const logged = (): number => cap.find('spool discarded').reduce((n, l) => n + (l.count as number), 0)
  // The counters move as records are discarded; the lines are logged once their deletes are written.
  await until(() => (spool.stats().bytes ?? 0) <= 20 * 150 && (spool.stats().dropped ?? 0) > 0 && logged() === spool.stats().dropped, 'the trim, logged')
  const stats = spool.stats()
  t.equal(stats.refusedFull, 0, 'nothing refused')
  t.equal(stats.pending + stats.dropped!, 40, 'every event is pending or counted as dropped')
  const lines = cap.find('spool discarded')
  const total = lines.reduce((n, l) => n + (l.count as number), 0)
  t.equal(total, stats.dropped, 'every dropped event is in a logged range')
  t.equal(lines[0]!.firstId, results[0]!.id, 'the oldest went first')
  t.equal(lines[0]!.code, 'OUTPOST_SPOOL_DISCARDED')
  const left = await spool.readAfter(-1, 100)
  t.equal(left[0]!.seq, stats.dropped, 'reading starts after the dropped ones')
  t.equal(left.at(-1)!.id, results[39]!.id, 'the newest are kept')
  await spool.close()
})

t.test('maxAgeSec: old events expire whatever the policy', async (t) => {
  const dir = t.testdir()
  let clock = 1_000_000
  const { spool, cap } = await open(dir, { now: () => clock, limits: { maxAgeMs: 60_000 }, checkIntervalMs: 100 })
  for (let i = 0; i < 5; i++) await spool.append(ev(i))
  clock += 30_000
  for (let i = 5; i < 8; i++) await spool.append(ev(i))
  clock += 40_000 // the first five are now 70 s old, the last three 40 s
  await until(() => spool.stats().expired === 5, 'expiry on the check timer')
  t.same((await spool.readAfter(-1, 100)).map((e) => e.seq), [5, 6, 7])
  // The counters move as records are discarded; the line is logged once their deletes are written.
  await until(() => cap.find('spool discarded').length > 0, 'the discard logged')
  const line = cap.find('spool discarded')[0]!
  t.match(line, { reason: 'expired', firstId: 'gw-1-0', lastId: 'gw-1-4', count: 5 })
  await spool.close()
})

t.test('minFreeBytes: refused below the floor, accepted again when the disk check sees room', async (t) => {
  const dir = t.testdir()
  let free = 1_000_000
  const { spool, cap } = await open(dir, { limits: { minFreeBytes: 500_000 }, checkIntervalMs: 100, statfs: async () => ({ bavail: free, bsize: 1 }) })
  await spool.append(ev(1))
  await spool.append(ev(1))
  free = 100_000
  await until(() => spool.stats().freeBytes === 100_000, 'a disk check')
  await t.rejects(spool.append(ev(2)), { code: 'OUTPOST_SPOOL_FULL', message: /minFreeBytes/ })
  const [first] = await spool.readAfter(-1, 1)
  spool.ack(first!.seq)
  await until(() => cap.find('spool compacted').length > 0, 'a compaction of the acknowledged head')
  t.pass('below the floor, acknowledged records are compacted at the next disk check, not after compactEveryAcks')
  let told = false
  spool.onWritable(() => { told = true })
  free = 2_000_000
  await until(() => told, 'writable again')
  await spool.append(ev(3))
  t.equal(spool.stats().pending, 2)
  await spool.close()
})

t.test('open after a crash reads only the tail, and trusts the stored counters', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  for (let i = 0; i < 20; i++) await spool.append(ev(i))
  for (const e of await spool.readAfter(-1, 5)) spool.ack(e.seq)
  const bytes = spool.stats().bytes
  await spool.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' }).del('clean')
  await db.close()
  const { spool: again } = await open(dir)
  t.equal(again.report.check, 'tail')
  t.equal(again.report.checked, 15, 'the newest records were decoded (all of them here)')
  t.equal(again.report.records, 15)
  t.equal(again.stats().bytes, bytes)
  t.equal(again.stats().headSeq, 5)
  await again.close()
})
