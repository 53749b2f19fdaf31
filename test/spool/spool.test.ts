import { ClassicLevel } from 'classic-level'
import t from 'tap'
import { MIN_DEFERRED_MS } from '../../src/spool/compaction-policy.js'
import { openSpool, type SpoolOptions } from '../../src/spool/spool.js'
import type { DedupHint, EventInput } from '../../src/spool/types.js'
import { seqKey } from '../../src/spool/keys.js'
import { captureLog } from '../helpers/log.js'

function ev(clientId: string, n: number, qos: 0 | 1 | 2 = 1): EventInput {
  return { clientId, topic: `sensors/${clientId}`, payload: Buffer.from(`reading ${n}`), qos, retain: false }
}

function open(dir: string, extra: Partial<SpoolOptions> = {}) {
  const cap = captureLog()
  return openSpool({ dir, gatewayId: 'gw', log: cap.log, groupCommitMs: 1, ...extra }).then((spool) => ({ spool, cap }))
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(5)
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

t.test('append, read in order, ack, reopen', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  t.equal(spool.epoch, 1)
  const results = await Promise.all([1, 2, 3, 4, 5].map((n) => spool.append(ev(n % 2 ? 'a' : 'b', n))))
  t.same(results.map((r) => r.seq), [0, 1, 2, 3, 4], 'seqs follow call order')
  t.same(results.map((r) => r.id), ['gw-1-0', 'gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-4'])
  const all = await spool.readAfter(-1, 100)
  t.same(all.map((e) => new TextDecoder().decode(e.payload)), ['reading 1', 'reading 2', 'reading 3', 'reading 4', 'reading 5'])
  t.equal(all[0]!.clientId, 'a')
  t.equal(all[0]!.topic, 'sensors/a')
  t.equal(all[0]!.qos, 1)
  t.type(all[0]!.acceptedAt, 'number')
  t.same((await spool.readAfter(2, 100)).map((e) => e.seq), [3, 4], 'cursor reads')
  spool.ack(0)
  spool.ack(1)
  t.equal(spool.stats().pending, 3)
  t.equal(spool.stats().headSeq, 2)
  await spool.close()

  const { spool: again } = await open(dir)
  t.equal(again.epoch, 2, 'a new epoch each open')
  t.ok(again.report.cleanShutdown)
  t.same((await again.readAfter(-1, 100)).map((e) => e.seq), [2, 3, 4], 'acked records stay deleted')
  const next = await again.append(ev('a', 6))
  t.equal(next.seq, 5)
  t.equal(next.id, 'gw-2-5')
  await again.close()
})

t.test('sequence numbers are never reused, even when every record was acked', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  for (let i = 0; i < 3; i++) await spool.append(ev('a', i))
  for (const e of await spool.readAfter(-1, 10)) spool.ack(e.seq)
  await spool.close()
  const { spool: again } = await open(dir)
  t.equal(again.report.records, 0)
  t.equal((await again.append(ev('a', 9))).seq, 3)
  await again.close()
})

t.test('retransmission with the same packet id and content is stored once', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  const first = await spool.append(ev('dev', 1), { messageId: 7, retransmit: false })
  const again = await spool.append(ev('dev', 1), { messageId: 7, retransmit: true })
  t.ok(again.duplicate)
  t.equal(again.id, first.id)
  const changed = await spool.append(ev('dev', 2), { messageId: 7, retransmit: true })
  t.notOk(changed.duplicate, 'different content under the same id is a new event')
  const notDup = await spool.append(ev('dev', 2), { messageId: 7, retransmit: false })
  t.notOk(notDup.duplicate, 'without DUP=1 a reused packet id is a new event')
  const other = await spool.append(ev('other', 2), { messageId: 7, retransmit: true })
  t.notOk(other.duplicate, 'other devices have their own packet ids')
  await spool.close()

  const { spool: reopened } = await open(dir)
  const afterRestart = await reopened.append(ev('dev', 2), { messageId: 7, retransmit: false })
  t.ok(afterRestart.duplicate, 'after a restart, a re-send even without DUP=1 is recognised (the PUBACK may never have gone out)')
  t.equal(afterRestart.id, notDup.id)
  const reused = await reopened.append(ev('dev', 2), { messageId: 7, retransmit: false })
  t.notOk(reused.duplicate, 'once answered in this run, a reused id without DUP=1 is a new event')
  t.equal(reopened.stats().pending, 5)
  await reopened.close()
})

t.test('appends from many callers share synced batches', async (t) => {
  const dir = t.testdir()
  const db = new ClassicLevel(dir + '/probe')
  await db.close()
  const { spool } = await open(dir, { groupCommitMs: 5 })
  const N = 500
  await Promise.all(Array.from({ length: N }, (_, i) => spool.append(ev(`c${i % 10}`, i))))
  t.equal(spool.stats().appended, N)
  const read = await spool.readAfter(-1, N + 1)
  t.equal(read.length, N)
  t.same(read.map((e) => e.seq), Array.from({ length: N }, (_, i) => i))
  await spool.close()
})

t.test('onAppend fires after commit, and reject moves a record aside', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  let fired = 0
  const off = spool.onAppend(() => fired++)
  const r = await spool.append(ev('a', 1))
  await new Promise((res) => setImmediate(res))
  t.equal(fired, 1)
  off()
  const [event] = await spool.readAfter(-1, 1)
  await spool.noteAttempt(r.seq)
  t.equal((await spool.readAfter(-1, 1))[0]!.attempts, 1, 'attempts are counted on disk')
  await spool.reject(event!, 'not authorized', 0x87)
  t.same(await spool.readAfter(-1, 10), [])
  const rejected = await spool.listRejected()
  t.equal(rejected.length, 1)
  t.equal(rejected[0]!.reason, 'not authorized')
  t.equal(rejected[0]!.reasonCode, 0x87)
  t.equal(rejected[0]!.event.id, r.id)
  t.equal(spool.stats().rejected, 1)
  t.equal(spool.stats().pending, 0)
  await spool.close()
})

t.test('a commit of many appends tells the listeners once, after all of them are readable', async (t) => {
  const dir = t.testdir()
  // A long group-commit delay: the 100 appends below share one write.
  const { spool } = await open(dir, { groupCommitMs: 50 })
  const seen: number[] = []
  spool.onAppend(() => {
    // What a listener reads when told: the whole commit, from memory.
    void spool.readAfter(-1, 1000).then((events) => seen.push(events.length))
  })
  await Promise.all(Array.from({ length: 100 }, (_, i) => spool.append(ev('a', i))))
  await until(() => seen.length > 0, 'the listener')
  await sleep(20)
  t.same(seen, [100], 'one call, and every append of the commit was there')
  await spool.close()
})

t.test('the in-memory tail grows while the uplink reads and shrinks back when nobody reads', async (t) => {
  const dir = t.testdir()
  let clock = 1_000_000
  const { spool } = await open(dir, { now: () => clock })
  const burst = async (from: number, n: number): Promise<void> => {
    for (let i = 0; i < n; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => spool.append(ev('a', from + i + j))))
  }
  await burst(0, 6000)
  t.equal(spool.stats().tailRecords, 4096, 'nobody has read: the small tail')
  await spool.readAfter(-1, 1)
  await burst(6000, 6000)
  t.equal(spool.stats().tailRecords, 10096, 'a reader: the 4,096 kept and every record since')
  const read = await spool.readAfter(5999, 10)
  t.equal(read[0]!.seq, 6000, 'and they read back in order')
  clock += 1_001
  await burst(12000, 1000)
  t.equal(spool.stats().tailRecords, 4096, 'no read for over a second: back to the small tail')
  await spool.close()
})

t.test('an ack that lands while an attempt is being counted: the record is not written back', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  // 2048 acks (the delete batch) write their deletes at once, while the attempt still reads.
  const n = 2048
  for (let i = 0; i < n; i += 256) await Promise.all(Array.from({ length: 256 }, (_, j) => spool.append(ev('a', i + j))))
  const read = await spool.readAfter(-1, n)
  t.equal(read.length, n)
  const last = read.at(-1)!.seq
  // The attempt reads the record first; the upstream's PUBACKs arrive meanwhile.
  const counting = spool.noteAttempt(last)
  for (const e of read) spool.ack(e.seq)
  await counting
  t.equal(spool.stats().pending, 0)
  t.same(await spool.readAfter(-1, 10), [], 'nothing to read in this run')
  await spool.close()
  const again = await open(dir)
  t.same((await again.spool.readAfter(-1, 10)).map((e) => e.seq), [], 'and nothing came back after a restart: no re-send of an acked event')
  await again.spool.close()
})

t.test('out-of-order acks, head tracking and compaction', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir, { compactEveryAcks: 10 })
  for (let i = 0; i < 30; i++) await spool.append(ev('a', i))
  spool.ack(1)
  spool.ack(2)
  t.equal(spool.stats().headSeq, 0)
  spool.ack(0)
  t.equal(spool.stats().headSeq, 3)
  for (let i = 3; i < 25; i++) spool.ack(i)
  t.same((await spool.readAfter(-1, 100)).map((e) => e.seq), [25, 26, 27, 28, 29])
  await spool.close()
})

t.test('head compaction waits while a backlog is unread, and runs once the reader caught up', async (t) => {
  const dir = t.testdir()
  const { spool, cap } = await open(dir, { compactEveryAcks: 10 })
  for (let i = 0; i < 200; i++) await spool.append(ev('a', i))
  // 20 read and acked: two intervals of acks, 180 records still unread (more than a tenth of an interval).
  for (const e of await spool.readAfter(-1, 20)) spool.ack(e.seq)
  await sleep(200)
  t.equal(cap.find('spool compacted').length, 0, 'no compaction while the backlog drains')
  // The rest read: the reader has caught up, and the next ack compacts.
  const rest = await spool.readAfter(19, 1000)
  t.equal(rest.length, 180)
  spool.ack(rest[0]!.seq)
  await until(() => cap.find('spool compacted').length === 1, 'the head compaction')
  t.match(cap.find('spool compacted')[0], { upTo: 21 })
  for (const e of rest.slice(1)) spool.ack(e.seq)
  t.same(await spool.readAfter(-1, 10), [], 'everything acked')
  await spool.close()
})

t.test('no head compaction while the uplink keeps up', async (t) => {
  const dir = t.testdir()
  const { spool, cap } = await open(dir, { compactEveryAcks: 10 })
  let after = -1
  for (let i = 0; i < 60; i++) {
    await spool.append(ev('a', i))
    for (const e of await spool.readAfter(after, 10)) {
      spool.ack(e.seq)
      after = e.seq
    }
  }
  t.equal(spool.stats().acked, 60)
  await sleep(200)
  t.equal(cap.find('spool compacted').length, 0, 'six intervals of acks, never a backlog: LevelDB\'s own compactions do it')
  await spool.close()
})

t.test('a backlog on disk at open is compacted once the uplink has caught up', async (t) => {
  const dir = t.testdir()
  const first = await open(dir, { compactEveryAcks: 10 })
  for (let i = 0; i < 30; i++) await first.spool.append(ev('a', i))
  await first.spool.close()
  const { spool, cap } = await open(dir, { compactEveryAcks: 10 })
  const all = await spool.readAfter(-1, 100)
  t.equal(all.length, 30)
  for (const e of all.slice(0, 10)) spool.ack(e.seq)
  await until(() => cap.find('spool compacted').length === 1, 'the head compaction')
  t.match(cap.find('spool compacted')[0], { upTo: 10 })
  await spool.close()
})

t.test('head compaction during a backlog that never drains: after MAX_DEFERRED_INTERVALS intervals and MIN_DEFERRED_MS', async (t) => {
  const dir = t.testdir()
  let clock = 1_000_000
  const { spool, cap } = await open(dir, { compactEveryAcks: 5, now: () => clock })
  for (let i = 0; i < 200; i++) await spool.append(ev('a', i))
  const first = await spool.readAfter(-1, 60)
  for (const e of first.slice(0, 49)) spool.ack(e.seq)
  await sleep(200)
  t.equal(cap.find('spool compacted').length, 0, '49 acks, 140 unread: waiting')
  spool.ack(first[49]!.seq)
  await sleep(200)
  t.equal(cap.find('spool compacted').length, 0, '10 intervals of acks within moments (a fast drain): still waiting')
  clock += MIN_DEFERRED_MS
  spool.ack(first[50]!.seq)
  await until(() => cap.find('spool compacted').length === 1, 'the compaction once it has waited MIN_DEFERRED_MS')
  t.match(cap.find('spool compacted')[0], { upTo: 51 })
  await spool.close()
})

t.test('damage: unreadable record and unclean shutdown are reported, not fatal', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  for (let i = 0; i < 5; i++) await spool.append(ev('a', i))
  await spool.close()
  // Break record 2 and drop record 3 behind the spool's back, and mark the shutdown unclean.
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const e = db.sublevel<string, Uint8Array>('e', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const m = db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' })
  await e.put(seqKey(2), new Uint8Array([0xff, 0x00, 0x13]))
  await e.del(seqKey(3))
  await m.del('clean')
  await db.close()

  const { spool: again, cap } = await open(dir)
  t.notOk(again.report.cleanShutdown)
  t.equal(again.report.unreadable, 1)
  t.same(again.report.gaps, [{ from: 2, to: 3 }], 'the quarantined and the missing record show as one gap')
  t.ok(cap.find('spool check found damage').length === 1, 'damage is logged')
  t.same((await again.readAfter(-1, 10)).map((e) => e.seq), [0, 1, 4])
  t.equal((await again.append(ev('a', 9))).seq, 5)
  await again.close()
})

t.test('a second spool on the same directory is refused with a clear error', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  await t.rejects(open(dir), { code: 'OUTPOST_SPOOL_LOCKED' })
  await spool.close()
})

t.test('appending to a closed spool fails with a typed error', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  await spool.close()
  await t.rejects(spool.append(ev('a', 1)), { code: 'OUTPOST_SPOOL_CLOSED' })
})

t.test('appendThen answers through its callback, after the call returns, as append does through its promise', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  type Answer = { err: Error | null; seq: number; id: string; duplicate: boolean }
  const appendThen = (input: EventInput, hint?: DedupHint): Promise<Answer> => new Promise((resolve) => {
    spool.appendThen(input, hint, (err, seq, id, duplicate) => resolve({ err, seq, id, duplicate }))
  })
  let calledAt: 'inside' | 'after' | null = null
  let returned = false
  spool.appendThen(ev('dev', 0), undefined, () => { calledAt = returned ? 'after' : 'inside' })
  returned = true
  const firstAnswer = await appendThen(ev('dev', 1), { messageId: 3, retransmit: false })
  t.equal(calledAt, 'after', 'answered after the call returned')
  t.equal(firstAnswer.err, null)
  t.equal(firstAnswer.duplicate, false)
  t.equal(firstAnswer.id, `gw-${spool.epoch}-${firstAnswer.seq}`, 'seq and id of the stored record')
  const stored = await spool.readAfter(-1, 10)
  t.same(stored.map((r) => r.seq), [firstAnswer.seq - 1, firstAnswer.seq], 'on disk and readable when the callback runs')

  const again = await appendThen(ev('dev', 1), { messageId: 3, retransmit: true })
  t.same([again.err, again.seq, again.id, again.duplicate], [null, firstAnswer.seq, firstAnswer.id, true], 'a retransmission: the stored record, duplicate')

  await spool.close()
  let called = false
  spool.appendThen(ev('dev', 2), undefined, () => { called = true })
  t.equal(called, false, 'a refusal is not answered from inside the call either')
  const refused = await appendThen(ev('dev', 2))
  t.match(refused, { err: { code: 'OUTPOST_SPOOL_CLOSED' }, seq: -1, id: '', duplicate: false })
})

t.test('after a restart a device\'s dedup window is loaded on its first publish, its appends keep their order', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  await spool.append(ev('dev', 1), { messageId: 1, retransmit: false })
  await spool.append(ev('other', 1), { messageId: 1, retransmit: false })
  await spool.close()
  const { spool: again } = await open(dir)
  const results = await Promise.all([
    again.append(ev('dev', 2), { messageId: 2, retransmit: false }),
    again.append(ev('dev', 1), { messageId: 1, retransmit: false }),
    again.append(ev('dev', 3), { messageId: 3, retransmit: false }),
  ])
  t.same(results.map((r) => r.duplicate), [false, true, false], 'the entry stored by the previous run is found')
  t.ok(results[0]!.seq < results[2]!.seq, 'call order is log order for one device')
  t.equal(results[1]!.id, 'gw-1-0')
  await again.close()
})

t.test('dedup entries stored by older versions (a map with a sha1 string) are read, and never match', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  const first = await spool.append(ev('dev', 1), { messageId: 1, retransmit: false })
  await spool.close()
  // Rewrite the entry the way versions before the numeric digest stored it.
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const { encodeValue } = await import('../../src/spool/record-codec.js')
  const dedup = db.sublevel<string, Uint8Array>('d', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const keys = await dedup.keys().all()
  t.equal(keys.length, 1, 'one key for the device\'s one batch')
  await dedup.del(keys[0]!)
  await dedup.put('dev\u00001', encodeValue({ digest: 'c2hhMSBvZiBzb21ldGhpbmc=', seq: first.seq, id: first.id }))
  await db.close()
  const { spool: again, cap } = await open(dir)
  const resent = await again.append(ev('dev', 1), { messageId: 1, retransmit: true })
  t.equal(resent.duplicate, false, 'an old-format digest cannot be compared: the re-send is stored again')
  t.notOk(cap.lines.some((l) => /unreadable dedup entry/.test(l.msg as string)), 'the old entry was read, not skipped as unreadable')
  const again2 = await again.append(ev('dev', 1), { messageId: 1, retransmit: true })
  t.equal(again2.duplicate, true, 'the new entry matches the next re-send')
  await again.close()
})

t.test('recent records are served from memory; acked and rejected ones are not handed out again', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir, { tailRecords: 8 })
  const ids: number[] = []
  for (let i = 0; i < 12; i++) ids.push((await spool.append(ev('dev', i))).seq)
  const all = await spool.readAfter(-1, 100)
  t.same(all.map((e) => e.seq), ids, 'the head (older than the cached tail) comes from the store, in order')
  const recent = await spool.readAfter(ids[5]!, 100)
  t.same(recent.map((e) => e.seq), ids.slice(6))
  t.same(recent.map((e) => e.payload.toString()), ids.slice(6).map((_, i) => `reading ${i + 6}`))
  spool.ack(ids[7]!)
  await spool.reject(recent[3]!, 'test')
  const after = await spool.readAfter(ids[5]!, 100)
  t.same(after.map((e) => e.seq), [ids[6], ids[8], ids[10], ids[11]], 'removed records are skipped')
  const before = spool.stats().bytes!
  spool.ack(ids[6]!)
  t.ok(spool.stats().bytes! < before, 'an ack of a cached record subtracts its size')
  await spool.close()
  const { spool: reopened } = await open(dir)
  t.same((await reopened.readAfter(-1, 100)).map((e) => e.seq), [...ids.slice(0, 6), ids[8], ids[10], ids[11]], 'the store agrees after a reopen')
  await reopened.close()
})

t.test('stored dedup keys stay bounded: one per device and batch, the oldest deleted once newer ones cover the window', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir, { dedupWindow: 8 })
  const results = []
  for (let i = 0; i < 200; i++) {
    // Packet ids cycle like a client's: 1..50, then again.
    const batch = [0, 1, 2].map((j) => spool.append(ev('dev', i * 3 + j), { messageId: ((i * 3 + j) % 50) + 1, retransmit: false }))
    results.push(...(await Promise.all(batch)))
  }
  await spool.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const keys = await db.sublevel<string, Uint8Array>('d', { keyEncoding: 'utf8', valueEncoding: 'view' }).keys().all()
  await db.close()
  t.ok(keys.length >= 3 && keys.length <= 9, `a window of 8 needs at most 8 keys plus the newest (found ${keys.length})`)
  const { spool: again } = await open(dir, { dedupWindow: 8 })
  const last = results.at(-1)!
  const resent = await again.append(ev('dev', 599), { messageId: (599 % 50) + 1, retransmit: true })
  t.equal(resent.duplicate, true, 'the newest packet is still known after a restart')
  t.equal(resent.id, last.id)
  const older = await again.append(ev('dev', 592), { messageId: (592 % 50) + 1, retransmit: true })
  t.equal(older.duplicate, true, 'and so is the oldest of the 8 the window keeps')
  t.equal(older.id, results[592]!.id)
  await again.close()
})

t.test('a read of large records stops at a byte bound; the next read goes on in order', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir, { tailRecords: 0 })
  const big = Buffer.alloc(300 * 1024, 7)
  for (let i = 0; i < 40; i++) await spool.append({ clientId: 'cam', topic: 'cam/frame', payload: big, qos: 1, retain: false })
  const first = await spool.readAfter(-1, 1000)
  t.ok(first.length > 0 && first.length < 40, `one read returned ${first.length} of 40 records of 300 KiB`)
  const seqs = first.map((e) => e.seq)
  let cursor = seqs.at(-1)!
  for (;;) {
    const more = await spool.readAfter(cursor, 1000)
    if (more.length === 0) break
    seqs.push(...more.map((e) => e.seq))
    cursor = more.at(-1)!.seq
  }
  t.same(seqs, Array.from({ length: 40 }, (_, i) => i), 'all 40, in order, across reads')
  await spool.close()
})

t.test('a read whose records were all unreadable reads on: an empty answer means nothing is left', async (t) => {
  const dir = t.testdir()
  const { spool } = await open(dir)
  for (let i = 0; i < 10; i++) await spool.append(ev('a', i))
  await spool.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const e = db.sublevel<string, Uint8Array>('e', { keyEncoding: 'utf8', valueEncoding: 'view' })
  // Garbled behind the spool's back after a clean close: found only when read.
  await e.put(seqKey(3), new Uint8Array([0xff, 0x00, 0x13]))
  await e.put(seqKey(4), new Uint8Array([0xff, 0x00, 0x14]))
  await db.close()
  const { spool: again, cap } = await open(dir)
  t.same((await again.readAfter(2, 2)).map((r) => r.seq), [5, 6], 'both records of the first try were quarantined; the read went on')
  t.equal(cap.find('unreadable event record moved to quarantine').length, 2)
  await again.close()
})
