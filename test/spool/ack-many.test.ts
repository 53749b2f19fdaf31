import { ClassicLevel } from 'classic-level'
import t from 'tap'
import { openSpool, type Spool, type SpoolOptions } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
import { seqKey } from '../../src/spool/keys.js'
import { decodeValue, encodeValue } from '../../src/spool/record-codec.js'
import { captureLog } from '../helpers/log.js'

function ev(n: number): EventInput {
  return { clientId: `dev-${n % 3}`, topic: `sensors/${n % 3}`, payload: Buffer.from(`reading ${n}`.padEnd(40, '.')), qos: 1, retain: false }
}

async function open(dir: string, extra: Partial<SpoolOptions> = {}): Promise<Spool> {
  return openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, now: () => 1_700_000_000_000, ...extra })
}

async function fill(spool: Spool, n: number): Promise<void> {
  for (let i = 0; i < n; i += 250) await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, j) => spool.append(ev(i + j))))
}

const seqsOf = async (spool: Spool): Promise<number[]> => (await spool.readAfter(-1, 100_000)).map((e) => e.seq)
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
const recs = (seqs: number[]): Array<{ seq: number }> => seqs.map((seq) => ({ seq }))
/** Until the spool's gathered deletes (5 ms) and their range deletes are written. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100))

/** The spool's metadata as stored, read with the spool closed. */
async function storedMeta(dir: string, key: string): Promise<unknown> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    const raw = await db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' }).get(key)
    return raw === undefined ? undefined : decodeValue(raw)
  } finally {
    await db.close()
  }
}

t.test('ackMany leaves the same records and counters as ack() one by one, in this run and after a restart', async (t) => {
  const dirs = t.testdir({ many: {}, one: {} })
  const many = await open(`${dirs}/many`)
  const one = await open(`${dirs}/one`)
  await fill(many, 1200)
  await fill(one, 1200)
  // Some records read (their exact sizes known), some not (the spool's average is used).
  await many.readAfter(-1, 800)
  await one.readAfter(-1, 800)
  // Batches as the uplink acks them: runs, a hole (seq 450 still pending), a straggler, a repeat.
  const batches = [range(0, 300), range(300, 450), range(451, 700), [900], range(0, 10), range(700, 850)]
  for (const b of batches) many.ackMany(recs(b))
  for (const b of batches) for (const seq of b) one.ack(seq)
  const { freeBytes: _a, ...statsMany } = many.stats()
  const { freeBytes: _b, ...statsOne } = one.stats()
  t.same(statsMany, statsOne, 'pending, bytes, head and acked are the same')
  t.equal(statsMany.acked, 450 + 249 + 1 + 150, 'each record counted once')
  const expected = [450, ...range(850, 900), ...range(901, 1200)]
  t.same(await seqsOf(many), expected, 'the records not acked are all still there, and only they')
  await settle()
  await many.close()
  await one.close()
  t.equal(await storedMeta(`${dirs}/many`, 'clearing'), undefined, 'a clean close leaves no unfinished range delete behind')

  const many2 = await open(`${dirs}/many`)
  const one2 = await open(`${dirs}/one`)
  t.same(await seqsOf(many2), expected, 'after a restart: acked records stay deleted, pending ones stay')
  t.equal(many2.stats().pending, expected.length)
  t.equal(many2.stats().bytes, one2.stats().bytes, 'stored byte count as with single acks')
  await many2.close()
  await one2.close()
})

t.test('ackMany skips records already acked or rejected, and ignores an empty list', async (t) => {
  const spool = await open(t.testdir())
  await fill(spool, 100)
  const read = await spool.readAfter(-1, 100)
  await spool.reject(read[5]!, 'refused')
  spool.ack(6)
  spool.ackMany([])
  spool.ackMany(recs(range(0, 100)))
  t.equal(spool.stats().acked, 99, 'the rejected one not counted, the one acked before counted once')
  t.equal(spool.stats().rejected, 1)
  t.equal(spool.stats().pending, 0)
  t.equal(spool.stats().bytes, 0)
  t.same(await seqsOf(spool), [])
  await spool.close()
})

t.test('an ack of a whole batch that lands while an attempt is being counted: the record is not written back', async (t) => {
  const dir = t.testdir()
  const spool = await open(dir)
  await fill(spool, 2048)
  const read = await spool.readAfter(-1, 2048)
  // The attempt reads the record first; the batch's PUBACK arrives meanwhile: its deletes (one
  // range) are written at once (2048 = a full delete batch) while the attempt still reads.
  const counting = spool.noteAttempt(1000)
  spool.ackMany(read)
  await counting
  t.equal(spool.stats().pending, 0)
  t.same(await seqsOf(spool), [], 'nothing to read in this run')
  await settle()
  await spool.close()
  const again = await open(dir)
  t.same(await seqsOf(again), [], 'and nothing came back after a restart: no re-send of an acked event')
  t.equal(again.stats().pending, 0)
  await again.close()
})

t.test('a crash after the counters were written and before the range delete: the next open finishes it', async (t) => {
  const dir = t.testdir()
  const spool = await open(dir)
  await fill(spool, 300)
  const before = spool.stats()
  await spool.close()
  // What the disk holds if the process died right after flushDeletes' first write: counters say
  // records 0..199 are gone and the ranges are noted, but the records are still stored.
  const perRecord = before.bytes! / 300
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const m = db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' })
  await m.batch([
    { type: 'put', key: 'pending', value: encodeValue(100) },
    { type: 'put', key: 'bytes', value: encodeValue(perRecord * 100) },
    { type: 'put', key: 'head', value: encodeValue(200) },
    { type: 'put', key: 'clearing', value: encodeValue([[0, 150], [150, 200]]) },
    { type: 'put', key: 'clean', value: encodeValue(false) },
  ])
  t.ok(await db.sublevel('e', { keyEncoding: 'utf8', valueEncoding: 'view' }).get(seqKey(0)), 'record 0 still stored')
  await db.close()

  const again = await open(dir)
  t.same(await seqsOf(again), range(200, 300), 'the noted ranges are deleted at open: no acked event is sent again')
  t.equal(again.stats().pending, 100, 'and the stored counters match the records')
  t.equal(again.stats().bytes, perRecord * 100)
  t.equal(again.stats().headSeq, 200)
  t.same(again.report.gaps, [], 'no gap reported')
  await again.close()
})

t.test('a stored range list that is not one is ignored: nothing is deleted on its word', async (t) => {
  const dir = t.testdir()
  const spool = await open(dir)
  await fill(spool, 50)
  await spool.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  await db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' }).put('clearing', encodeValue([[0, 'x']]))
  await db.close()
  const again = await open(dir)
  t.same(await seqsOf(again), range(0, 50))
  await again.close()
})
