// Records read with their stored bytes (spool readAfter's `raw`, batched mode): the layout scan
// against the full reader, the lazily decoded event against the decoded one, and a batch built
// by copying stored items against the batch built from decoded fields, byte for byte.
import t from 'tap'
import { encode } from 'cbor-x'
import { decodeRecord, encodeRecord } from '../../src/spool/record-codec.js'
import { readRecord, scanRecord } from '../../src/spool/record-reader.js'
import { plainEvent, readRaw } from '../../src/spool/raw-event.js'
import { openSpool } from '../../src/spool/spool.js'
import type { StoredEvent } from '../../src/spool/types.js'
import { createBatchBuilder } from '../../src/uplink/batch-builder.js'
import { decodeBatch, encodeBatch } from '../../src/wire/batch-codec.js'
import { seededRandom } from '../helpers/fault-results.js'
import { captureLog } from '../helpers/log.js'

const TEXTS = ['a', 'sensors/dev-1/temp', '', 'dév-1', '温度', '😀🚀', 'x'.repeat(23), 'y'.repeat(24), 'z'.repeat(300), '\u0000\u007f\u0080']

function randomEvent(r: () => number, seq: number): StoredEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const size = pick([0, 1, 23, 24, 64, 65, 100, 255, 256, 5000, 70_000])
  const payload = Buffer.alloc(size)
  for (let i = 0; i < size; i++) payload[i] = Math.floor(r() * 256)
  const e: StoredEvent = {
    seq, id: `gw-${Math.floor(r() * 1e6)}-${seq}`, clientId: pick(TEXTS), topic: pick(TEXTS), payload,
    qos: Math.floor(r() * 3) as 0 | 1 | 2, retain: r() < 0.5,
    acceptedAt: pick([0, 24, 0xffffffff, 1_700_000_000_000 + Math.floor(r() * 1e9), 1_700_000_000_000.5]),
  }
  if (r() < 0.3) e.attempts = pick([1, 24, 300])
  if (r() < 0.4) {
    const meta: Record<string, string> = {}
    const n = Math.floor(r() * 4)
    for (let i = 0; i < n; i++) meta[pick(TEXTS) || `k${i}`] = pick(TEXTS)
    e.meta = meta
  }
  if (r() < 0.3) e.upstreamTopic = pick(TEXTS)
  return e
}

function fields(e: StoredEvent): unknown[] {
  return [e.seq, e.id, e.clientId, e.topic, Buffer.from(e.payload), e.qos, e.retain, e.acceptedAt, e.attempts, e.meta, e.upstreamTopic]
}

t.test('every record encodeRecord writes: the raw event has the decoded event\'s fields, a batch of them the same bytes', async (t) => {
  const r = seededRandom(7)
  const build = createBatchBuilder({ gatewayId: 'gw-é', topic: 'outpost/gw/batch', protocolVersion: 5 })
  let events = 0
  for (let round = 0; round < 60; round++) {
    const plain: StoredEvent[] = []
    const raw: StoredEvent[] = []
    const n = 1 + Math.floor(r() * 20)
    for (let i = 0; i < n; i++) {
      const e = randomEvent(r, round * 100 + i)
      const bytes = Buffer.from(encodeRecord(e))
      const decoded = decodeRecord(e.seq, bytes)
      const lazy = readRaw(e.seq, bytes)
      if (lazy === undefined) {
        t.fail(`record ${e.seq} not read raw`)
        return
      }
      t.ok(lazy.record !== undefined)
      if (JSON.stringify(fields(lazy)) !== JSON.stringify(fields(decoded))) {
        t.fail(`record ${e.seq}: raw fields differ from decoded ones`)
        return
      }
      plain.push(decoded)
      raw.push(lazy)
    }
    events += n
    const historical = plain.map(() => r() < 0.5)
    const fromRaw = build(raw, historical).payload
    const fromFields = build(plain, historical).payload
    if (Buffer.compare(fromRaw, fromFields) !== 0) {
      t.fail(`round ${round}: the batch copied from stored items differs from the one written from fields`)
      return
    }
    // The codec takes whole milliseconds only (a bigint); the builder writes a float's whole part.
    if (plain.some((e) => !Number.isInteger(e.acceptedAt))) continue
    const viaCodec = encodeBatch('gw-é', plain.map((e, i) => ({ ...e, historical: historical[i]! })))
    if (Buffer.compare(fromRaw, Buffer.from(viaCodec)) !== 0) {
      t.fail(`round ${round}: differs from the codec's encodeBatch`)
      return
    }
    t.equal(decodeBatch(fromRaw).events.length, n)
  }
  t.comment(`${events} events compared`)
})

t.test('a mix of raw and decoded events in one batch (records served from memory come decoded)', async (t) => {
  const build = createBatchBuilder({ gatewayId: 'gw', topic: 'b', protocolVersion: 4 })
  const r = seededRandom(3)
  const es = Array.from({ length: 10 }, (_, i) => randomEvent(r, i))
  const mixed = es.map((e, i) => (i % 2 === 0 ? readRaw(e.seq, Buffer.from(encodeRecord(e)))! : e))
  const flags = es.map(() => false)
  t.same(Buffer.from(build(mixed, flags).payload), Buffer.from(build(es, flags).payload))
})

t.test('records in other forms are not read raw: they decode as before', async (t) => {
  const e: StoredEvent = { seq: 1, id: 'gw-1-1', clientId: 'c', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, acceptedAt: 5 }
  const good = Buffer.from(encodeRecord(e))
  t.ok(scanRecord(good))
  // 'c' with a one-byte length head (0x78 0x01): valid CBOR, not the shortest form a batch writes.
  const longHead = Buffer.concat([good.subarray(0, 9), Buffer.from([0x78, 0x01]), good.subarray(10)])
  t.equal(readRecord(1, longHead)?.clientId, 'c', 'the full reader takes it')
  t.equal(scanRecord(longHead), undefined, 'the scan does not')
  t.equal(readRaw(1, longHead), undefined)
  // A map head other than the two-byte form (what cbor-x writes for a Map, say).
  const withMeta = Buffer.from(encodeRecord({ ...e, meta: { a: 'b' } }))
  t.ok(scanRecord(withMeta))
  const shortMap = Buffer.from(encode([1, 'gw-1-1', 'c', 't', Buffer.from('p'), 1, false, 5, 0, new Map([['a', 'b']])]))
  t.equal(scanRecord(shortMap), undefined)
  // Invalid UTF-8 in a text item, damage, trailing bytes.
  const bad = Buffer.from(good)
  bad[good.indexOf('c'.charCodeAt(0), 9)] = 0xff
  t.equal(scanRecord(bad), undefined, 'invalid UTF-8')
  t.equal(scanRecord(good.subarray(0, good.length - 1)), undefined, 'cut short')
  t.equal(scanRecord(Buffer.concat([good, Buffer.from([0])])), undefined, 'trailing byte')
  t.equal(scanRecord(Buffer.from([0xff, 0x00, 0x13])), undefined, 'garbage')
  const proto = Buffer.from(encodeRecord({ ...e, meta: { __proto__x: 'v' } }))
  t.ok(scanRecord(proto))
})

t.test('plainEvent: every field, as own properties, for the rejected store', async (t) => {
  const e: StoredEvent = {
    seq: 4, id: 'gw-1-4', clientId: 'c', topic: 't', payload: Buffer.from('p'), qos: 2, retain: true, acceptedAt: 9,
    attempts: 2, meta: { k: 'v' }, upstreamTopic: 'up/t',
  }
  const lazy = readRaw(4, Buffer.from(encodeRecord(e)))!
  const plain = plainEvent(lazy)
  t.equal(plain.record, undefined)
  t.same(fields(plain), fields(e))
  t.same(Object.keys(plain).sort(), Object.keys(e).sort())
  t.equal(plainEvent(e), e, 'a decoded event is kept as it is')
})

t.test('spool: readAfter with raw serves stored records with their bytes; reject keeps the full event', async (t) => {
  const dir = t.testdir()
  const spool = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, tailRecords: 0 })
  for (let i = 0; i < 20; i++) {
    await spool.append({ clientId: `dev-${i % 3}`, topic: `sensors/${i}`, payload: Buffer.from(`v${i}`), qos: 1, retain: false, meta: { n: String(i) } })
  }
  const decoded = await spool.readAfter(-1, 100)
  const raw = await spool.readAfter(-1, 100, { raw: true })
  t.equal(raw.length, 20)
  t.ok(raw.every((e) => e.record !== undefined), 'every record with its bytes')
  t.ok(decoded.every((e) => e.record === undefined), 'without the option: decoded as before')
  t.same(raw.map((e) => JSON.stringify(fields(e))), decoded.map((e) => JSON.stringify(fields(e))))
  await spool.reject(raw[3]!, 'refused', 0x99)
  const [rejected] = await spool.listRejected()
  t.same(fields(rejected!.event), fields(decoded[3]!), 'the rejected store holds the whole event')
  t.same((await spool.readAfter(2, 2, { raw: true })).map((e) => e.seq), [4, 5], 'the rejected record is not read again')
  await spool.close()
})
