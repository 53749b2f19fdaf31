import t from 'tap'
import { decode, Encoder } from 'cbor-x'
import { BATCH_CONTENT_TYPE, decodeBatch, encodeBatch, isBatch, type BatchEvent } from '../../src/wire/batch-codec.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'

const ev = (n: number, extra: Partial<BatchEvent> = {}): BatchEvent => ({
  id: `gw-3-${n}`, clientId: 'dev-1', topic: 'sensors/t', acceptedAt: 1_700_000_000_000 + n,
  qos: 1, retain: false, payload: Buffer.from([n & 0xff, 0xfe]), historical: false, ...extra,
})

// A raw CBOR writer that adds the self-describe tag, to build bad batches by hand.
const raw = new Encoder({ useRecords: false, tagUint8Array: false, useSelfDescribedHeader: true })
const tagged = (v: unknown): Buffer => Buffer.from(raw.encode(v))
const row = (e: BatchEvent): unknown[] =>
  [e.id, e.clientId, e.topic, BigInt(e.acceptedAt), e.qos, e.retain, e.payload, e.meta ?? null, e.historical]

function codeOf(fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}` }
  return undefined
}

t.test('events round-trip in order, with and without meta', async (t) => {
  const events = [ev(1), ev(2, { meta: { 'device-type': 'meter', msg: 'reading' }, retain: true, qos: 2 }), ev(3, { historical: true, qos: 0 })]
  const bytes = encodeBatch('gw-3', events)
  t.ok(Buffer.isBuffer(bytes))
  const out = decodeBatch(bytes)
  t.equal(out.gatewayId, 'gw-3')
  t.same(out.events.map((e) => ({ ...e, payload: [...e.payload] })), events.map((e) => ({ ...e, payload: [...e.payload] })))
  t.notOk('meta' in (out.events[0] as BatchEvent), 'null meta decodes to no meta key')
  t.ok(isBatch(bytes))
})

t.test('the bytes follow the documented layout', async (t) => {
  const bytes = encodeBatch('gw', [{ id: 'gw-1-1', clientId: 'd', topic: 't', acceptedAt: 1700000000123, qos: 1, retain: false, payload: new Uint8Array([1, 2]), historical: false }])
  // Written by hand from docs/batch-format.md, not by the codec.
  const expected = Buffer.concat([
    Buffer.from('d9d9f7', 'hex'), // tag 55799
    Buffer.from('84', 'hex'), Buffer.from('6d', 'hex'), Buffer.from('outpost-batch'), Buffer.from('01', 'hex'),
    Buffer.from('62', 'hex'), Buffer.from('gw'),
    Buffer.from('81', 'hex'), Buffer.from('89', 'hex'),
    Buffer.from('66', 'hex'), Buffer.from('gw-1-1'), Buffer.from('61', 'hex'), Buffer.from('d'), Buffer.from('61', 'hex'), Buffer.from('t'),
    Buffer.from('1b0000018bcfe5687b', 'hex'), // acceptedAt as a 64-bit uint, not a float
    Buffer.from('01', 'hex'), Buffer.from('f4', 'hex'), Buffer.from('420102', 'hex'), Buffer.from('f6', 'hex'), Buffer.from('f4', 'hex'),
  ])
  t.equal(bytes.toString('hex'), expected.toString('hex'))
  t.same(decodeBatch(expected).events[0]?.acceptedAt, 1700000000123)
  t.equal(BATCH_CONTENT_TYPE, 'application/vnd.outpost.batch+cbor')
})

t.test('the encoder output is independent of later encodings', async (t) => {
  const a = encodeBatch('gw', [ev(1)])
  const copy = Buffer.from(a)
  for (let i = 0; i < 200; i++) encodeBatch('gw', [ev(i), ev(i + 1)])
  t.same(a, copy)
})

t.test('a large batch round-trips', async (t) => {
  const events = Array.from({ length: 5000 }, (_, i) => ev(i, { payload: Buffer.alloc(i % 300, i & 0xff) }))
  const out = decodeBatch(encodeBatch('gw-3', events))
  t.equal(out.events.length, 5000)
  t.equal(out.events[4999]?.id, 'gw-3-4999')
  t.equal(out.events[299]?.payload.length, 299)
  t.same(decodeBatch(encodeBatch('gw-3', [])).events, [], 'an empty batch is valid')
})

t.test('unknown trailing fields are ignored', async (t) => {
  const e = ev(5)
  const bytes = tagged(['outpost-batch', 1, 'gw-3', [[...row(e), 'future', 42]], 'trailing'])
  const out = decodeBatch(bytes)
  t.equal(out.events[0]?.id, 'gw-3-5')
  t.equal(out.events.length, 1)
})

t.test('another version is refused with its own code', async (t) => {
  t.equal(codeOf(() => decodeBatch(tagged(['outpost-batch', 2, 'gw', []]))), ErrorCodes.BATCH_VERSION)
  t.equal(codeOf(() => decodeBatch(tagged(['outpost-batch', '1', 'gw', []]))), ErrorCodes.BATCH_VERSION)
})

t.test('every malformed field is refused with OUTPOST_BATCH_INVALID', async (t) => {
  const good = row(ev(1))
  const withField = (i: number, v: unknown): unknown[] => { const r = [...good]; r[i] = v; return r }
  const cases: Array<[string, Buffer]> = [
    ['no tag', Buffer.from(encodeBatch('gw', [ev(1)]).subarray(3))],
    ['truncated', encodeBatch('gw', [ev(1)]).subarray(0, 20)],
    ['empty', Buffer.alloc(0)],
    ['not an array', tagged({ a: 1 })],
    ['wrong marker', tagged(['outpost-batcx', 1, 'gw', []])],
    ['short top level', tagged(['outpost-batch', 1, 'gw'])],
    ['gateway id not text', tagged(['outpost-batch', 1, 7, []])],
    ['events not an array', tagged(['outpost-batch', 1, 'gw', {}])],
    ['event not an array', tagged(['outpost-batch', 1, 'gw', ['x']])],
    ['event too short', tagged(['outpost-batch', 1, 'gw', [good.slice(0, 8)]])],
    ['id empty', tagged(['outpost-batch', 1, 'gw', [withField(0, '')]])],
    ['id number', tagged(['outpost-batch', 1, 'gw', [withField(0, 12)]])],
    ['clientId bytes', tagged(['outpost-batch', 1, 'gw', [withField(1, Buffer.from('d'))]])],
    ['topic null', tagged(['outpost-batch', 1, 'gw', [withField(2, null)]])],
    ['acceptedAt negative', tagged(['outpost-batch', 1, 'gw', [withField(3, -5)]])],
    ['acceptedAt fraction', tagged(['outpost-batch', 1, 'gw', [withField(3, 1.5)]])],
    ['acceptedAt text', tagged(['outpost-batch', 1, 'gw', [withField(3, '17')]])],
    ['acceptedAt above 2^53', tagged(['outpost-batch', 1, 'gw', [withField(3, 2n ** 60n)]])],
    ['qos 3', tagged(['outpost-batch', 1, 'gw', [withField(4, 3)]])],
    ['retain 0', tagged(['outpost-batch', 1, 'gw', [withField(5, 0)]])],
    ['payload text', tagged(['outpost-batch', 1, 'gw', [withField(6, 'abc')]])],
    ['meta value number', tagged(['outpost-batch', 1, 'gw', [withField(7, { a: 1 })]])],
    ['meta integer key', tagged(['outpost-batch', 1, 'gw', [withField(7, new Map([[1, 'x']]))]])],
    ['meta array', tagged(['outpost-batch', 1, 'gw', [withField(7, ['a'])]])],
    ['historical missing type', tagged(['outpost-batch', 1, 'gw', [withField(8, null)]])],
    ['second event bad', tagged(['outpost-batch', 1, 'gw', [good, withField(4, 9)]])],
    ['trailing bytes', Buffer.concat([encodeBatch('gw', [ev(1)]), Buffer.from([0])])],
    // A header claiming 100 million events in a 30-byte message: refused, not allocated.
    ['huge declared length', Buffer.concat([encodeBatch('gw', []).subarray(0, -1), Buffer.from('9a05f5e100', 'hex')])],
  ]
  for (const [name, bytes] of cases) t.equal(codeOf(() => decodeBatch(bytes)), ErrorCodes.BATCH_INVALID, name)
  const msg = (() => { try { decodeBatch(tagged(['outpost-batch', 1, 'gw', [good, withField(4, 9)]])) } catch (e) { return (e as Error).message } return '' })()
  t.match(msg, /event 1 \(gw-3-1\): qos/, 'the message names the event')
})

t.test('isBatch looks at the prefix and the marker only', async (t) => {
  t.ok(isBatch(encodeBatch('gw', [])))
  t.ok(isBatch(new Uint8Array(encodeBatch('gw', [ev(1)]))), 'a plain Uint8Array too')
  t.notOk(isBatch(Buffer.from('{"id":"gw-1-1"}')))
  t.notOk(isBatch(Buffer.alloc(0)))
  t.notOk(isBatch(Buffer.from('d9d9f7', 'hex')))
  t.notOk(isBatch(tagged(['outpost-other', 1, 'gw', []])))
  t.notOk(isBatch(tagged({ 'outpost-batch': 1 })))
  t.notOk(isBatch(Buffer.from(encodeBatch('gw', []).subarray(3))), 'untagged')
  // A generic CBOR decoder reads it too (tag 55799 is transparent).
  const generic = decode(encodeBatch('gw', [ev(1)])) as unknown[]
  t.equal(generic[0], 'outpost-batch')
})
