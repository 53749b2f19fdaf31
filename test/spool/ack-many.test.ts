import { ClassicLevel } from 'classic-level'
import t from 'tap'
import { writeDeletes } from '../../src/spool/open-db.js'
import { seqKey } from '../../src/spool/keys.js'
import { openSpool, type Spool, type SpoolOptions } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
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
  await many.close()
  await one.close()

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
  // The attempt reads the record first; the batch's PUBACK arrives meanwhile: its deletes are
  // written at once (2048 = a full delete batch) while the attempt still reads.
  const counting = spool.noteAttempt(1000)
  spool.ackMany(read)
  await counting
  t.equal(spool.stats().pending, 0)
  t.same(await seqsOf(spool), [], 'nothing to read in this run')
  await spool.close()
  const again = await open(dir)
  t.same(await seqsOf(again), [], 'and nothing came back after a restart: no re-send of an acked event')
  t.equal(again.stats().pending, 0)
  await again.close()
})

t.test('writeDeletes: exactly the keys of the given seqs go, whatever their size, with the other ops', async (t) => {
  const db = new ClassicLevel<string, Uint8Array>(t.testdir(), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const seqs = [0, 1, 15, 16, 255, 256, 4095, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 53 - 1]
  const events = db.sublevel<string, Uint8Array>('e', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const meta = db.sublevel<string, Uint8Array>('m', { keyEncoding: 'utf8', valueEncoding: 'view' })
  for (const seq of seqs) await events.put(seqKey(seq), new Uint8Array([1]))
  const gone = [1, 16, 256, 2 ** 32 - 1, 2 ** 53 - 1]
  await writeDeletes(db, events.prefix, gone, [{ type: 'put', sublevel: meta, key: 'pending', value: new Uint8Array([5]) }], false)
  const left: string[] = []
  for await (const key of events.keys()) left.push(key)
  t.same(left, seqs.filter((s) => !gone.includes(s)).map(seqKey), 'the others stay')
  t.same(await meta.get('pending'), new Uint8Array([5]), 'the other ops are in the same write')
  await db.close()
})
