// The hand-written record reader against the cbor-x path it replaces: same events for every record
// encodeRecord writes, a fallback for other encodings, RecordDecodeError for damaged bytes.
import t from 'tap'
import { encode } from 'cbor-x'
import { decodeGeneric, decodeRecord, encodeRecord, RecordDecodeError } from '../../src/spool/record-codec.js'
import { readRecord } from '../../src/spool/record-reader.js'
import type { StoredEvent } from '../../src/spool/types.js'
import { seededRandom } from '../helpers/fault-results.js'

/** The same cases on every run. */
const rng = seededRandom

const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyz0123456789/-_',
  'éàüßñçøå',
  '温度湿度传感器',
  '😀🚀🌡️',
  '\u0000\u007f\u0080\u07ff\u0800\uffff\ufeff',
]

function randomText(r: () => number, max: number): string {
  const n = Math.floor(r() * max)
  let s = ''
  const unicode = r() < 0.3
  for (let i = 0; i < n; i++) {
    const alpha = unicode ? ALPHABETS[Math.floor(r() * ALPHABETS.length)]! : ALPHABETS[0]!
    const chars = [...alpha]
    s += chars[Math.floor(r() * chars.length)]!
  }
  return s
}

function randomEvent(r: () => number, seq: number): StoredEvent {
  const sizes = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 200_000]
  const size = r() < 0.2 ? sizes[Math.floor(r() * sizes.length)]! : Math.floor(r() * 300)
  const payload = Buffer.alloc(size)
  for (let i = 0; i < size; i++) payload[i] = Math.floor(r() * 256)
  const times = [0, 23, 24, 255, 65_536, 0xffffffff, 0x100000000, 1_700_000_000_000 + Math.floor(r() * 1e9), 1_700_000_000_000.5, -1, 2 ** 53]
  const e: StoredEvent = {
    seq,
    id: `gw-${Math.floor(r() * 1e10)}-${seq}`,
    clientId: randomText(r, r() < 0.1 ? 400 : 30),
    topic: randomText(r, r() < 0.1 ? 200 : 60),
    payload,
    qos: Math.floor(r() * 3) as 0 | 1 | 2,
    retain: r() < 0.5,
    acceptedAt: times[Math.floor(r() * times.length)]!,
  }
  const attempts = [0, 0, 0, 1, 23, 24, 300, 70_000][Math.floor(r() * 8)]!
  if (attempts > 0) e.attempts = attempts
  if (r() < 0.4) {
    const meta: Record<string, string> = {}
    const n = Math.floor(r() * 5)
    for (let i = 0; i < n; i++) meta[randomText(r, 20) || `k${i}`] = randomText(r, 40)
    e.meta = meta
  }
  if (r() < 0.3) e.upstreamTopic = randomText(r, 80)
  return e
}

/** Comparable form: payload as a plain array of numbers. */
const plain = (e: StoredEvent) => ({ ...e, payload: [...e.payload] })

t.test('random records: the reader answers for every one and agrees with cbor-x', async (t) => {
  const r = rng(4)
  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const e = randomEvent(r, i)
    const bytes = encodeRecord(e)
    const fast = readRecord(i, bytes)
    if (fast === undefined) {
      t.fail(`record ${i} not read by the fast path`)
      continue
    }
    const generic = decodeGeneric(i, bytes)
    if (JSON.stringify(plain(fast)) !== JSON.stringify(plain(generic)) || Object.keys(fast).join() !== Object.keys(generic).join()) {
      t.same(plain(fast), plain(generic), `record ${i} differs`)
    }
    if (fast.payload.constructor !== generic.payload.constructor) t.fail(`record ${i}: payload is a ${fast.payload.constructor.name}, cbor-x gives a ${generic.payload.constructor.name}`)
    checked++
  }
  t.equal(checked, 2000)
  // One explicit deep comparison per feature, so a failure names it.
  const b: StoredEvent = { seq: 1, id: 'gw-1-1', clientId: 'capteur-é-温度', topic: 'maison/😀', payload: Buffer.alloc(0), qos: 2, retain: true, acceptedAt: 1_700_000_000_000.25, attempts: 3, meta: { 'ü': 'v', a: '' }, upstreamTopic: 'up/t' }
  t.same(plain(readRecord(1, encodeRecord(b))!), plain(b))
  t.same(plain(readRecord(1, encodeRecord(b))!), plain(decodeGeneric(1, encodeRecord(b))))
})

t.test('the payload is a view on the value bytes, as cbor-x returns it, not a copy', async (t) => {
  const bytes = encodeRecord({ seq: 1, id: 'a', clientId: 'b', topic: 'c', payload: Buffer.from([9, 8, 7]), qos: 1, retain: false, acceptedAt: 5 })
  const fast = readRecord(1, bytes)!
  const generic = decodeGeneric(1, bytes)
  t.equal(fast.payload.buffer, bytes.buffer, 'same memory as the value')
  t.equal(generic.payload.buffer, bytes.buffer, 'as with cbor-x')
  t.equal(fast.payload.constructor, generic.payload.constructor, 'a Buffer view for a Buffer value')
  t.same([...fast.payload], [9, 8, 7])
  const u8 = new Uint8Array(bytes)
  t.equal(readRecord(1, u8)!.payload.constructor, Uint8Array, 'a Uint8Array view for a Uint8Array value')
  t.equal(readRecord(1, u8)!.payload.buffer, u8.buffer)
})

t.test('other encodings of a valid record fall back to cbor-x and decode as before', async (t) => {
  const e: StoredEvent = { seq: 3, id: 'gw-1-3', clientId: 'dev', topic: 'a/b', payload: Buffer.from([1, 2]), qos: 1, retain: false, acceptedAt: 1_700_000_000_000 }
  const fields = [1, e.id, e.clientId, e.topic, e.payload, e.qos, e.retain, e.acceptedAt, 0]
  const variants: Array<[string, Uint8Array]> = [
    // Array length in the one-byte-argument form.
    ['array head 0x98', Buffer.concat([Buffer.from([0x98, 9]), Buffer.from(encode(fields)).subarray(1)])],
    // Indefinite-length array.
    ['indefinite array', Buffer.concat([Buffer.from([0x9f]), Buffer.from(encode(fields)).subarray(1), Buffer.from([0xff])])],
    // A timestamp as a float32 is not what encodeRecord writes.
    ['float32 acceptedAt', (() => {
      const head = Buffer.from(encode([1, e.id, e.clientId, e.topic, e.payload, e.qos, e.retain]))
      head[0] = 0x89
      return Buffer.concat([head, Buffer.from([0xfa, 0x3f, 0xc0, 0x00, 0x00, 0x00])])
    })()],
    // Indefinite-length text for the topic: 0x7f, chunks, 0xff.
    ['indefinite text', (() => {
      const head = Buffer.from(encode([1, e.id, e.clientId]))
      head[0] = 0x89
      return Buffer.concat([head, Buffer.from([0x7f, 0x61, 0x61, 0x62, 0x2f, 0x62, 0xff]), Buffer.from(encode([e.payload, e.qos, e.retain, e.acceptedAt, 0])).subarray(1)])
    })()],
    // An 8-byte attempts count.
    ['uint64 attempts', Buffer.concat([Buffer.from(encode(fields)).subarray(0, -1), Buffer.from([0x1b, 0, 0, 0, 0, 0, 0, 0, 2])])],
  ]
  for (const [name, bytes] of variants) {
    t.equal(readRecord(3, bytes), undefined, `${name}: not the fast path's form`)
    let generic: StoredEvent | undefined
    try { generic = decodeGeneric(3, bytes) } catch { generic = undefined }
    if (generic === undefined) {
      let err: unknown
      try { decodeRecord(3, bytes) } catch (x) { err = x }
      t.ok(err instanceof RecordDecodeError, `${name}: fails as before, with a RecordDecodeError`)
    } else {
      t.same(plain(decodeRecord(3, bytes)), plain(generic), `${name}: decodes as before`)
    }
  }
  // The ones cbor-x reads must still give the record.
  t.same(plain(decodeRecord(3, variants[0]![1])), plain(e))
  t.same(plain(decodeRecord(3, variants[1]![1])), plain(e))
  t.equal(decodeRecord(3, variants[2]![1]).acceptedAt, 1.5)
  t.throws(() => decodeRecord(3, variants[3]![1]), /not valid CBOR/, 'cbor-x does not take indefinite-length text: still an error')
  t.throws(() => decodeRecord(3, variants[4]![1]), /field of the wrong type/, 'cbor-x gives a bigint for an 8-byte uint: still refused')
})

t.test('truncated records throw RecordDecodeError at every length', async (t) => {
  const r = rng(9)
  let cuts = 0
  for (let i = 0; i < 40; i++) {
    const e = randomEvent(r, i)
    if (e.payload.length > 1000) e.payload = e.payload.subarray(0, 100)
    const bytes = encodeRecord(e)
    for (let n = 0; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n)
      if (readRecord(i, cut) !== undefined) t.fail(`record ${i} cut at ${n}: the fast path answered`)
      let err: unknown
      try { decodeRecord(i, cut) } catch (x) { err = x }
      if (!(err instanceof RecordDecodeError)) t.fail(`record ${i} cut at ${n} of ${bytes.length}: ${String(err)}`)
      cuts++
    }
  }
  t.ok(cuts > 1000, `${cuts} truncations checked`)
})

t.test('garbled bytes: an error, or exactly what cbor-x makes of them', async (t) => {
  const r = rng(11)
  let errors = 0
  let same = 0
  for (let i = 0; i < 3000; i++) {
    const e = randomEvent(r, i)
    if (e.payload.length > 1000) e.payload = e.payload.subarray(0, 50)
    const bytes = Buffer.from(encodeRecord(e))
    const flips = 1 + Math.floor(r() * 3)
    // Garble the header part (everything but a long payload) more often than the payload bytes.
    for (let f = 0; f < flips; f++) bytes[Math.floor(r() * Math.min(bytes.length, 60))] = Math.floor(r() * 256)
    if (r() < 0.3) bytes[bytes.length - 1 - Math.floor(r() * Math.min(bytes.length, 20))] = Math.floor(r() * 256)
    let genericErr: unknown
    let generic: StoredEvent | undefined
    try { generic = decodeGeneric(i, bytes) } catch (x) { genericErr = x }
    let mine: StoredEvent | undefined
    let mineErr: unknown
    try { mine = decodeRecord(i, bytes) } catch (x) { mineErr = x }
    if (generic === undefined) {
      if (!(mineErr instanceof RecordDecodeError)) t.fail(`garbled record ${i}: cbor-x path failed (${String(genericErr)}), fast path gave ${JSON.stringify(mine && plain(mine))}`)
      else errors++
    } else if (mine === undefined || JSON.stringify(plain(mine)) !== JSON.stringify(plain(generic))) {
      t.fail(`garbled record ${i}: differs from cbor-x: ${String(mineErr)}`)
    } else {
      same++
    }
  }
  t.equal(errors + same, 3000, `${errors} rejected, ${same} decoded the same as cbor-x`)
  t.ok(errors > 100, 'garbling the header is mostly caught')
})
