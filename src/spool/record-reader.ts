import type { StoredEvent } from './types.js'

/**
 * A decoder for exactly the record layout encodeRecord writes (record-codec.ts):
 * a definite-length array of 9 to 11 items,
 *   [1, id, clientId, topic, payload, qos, retain, acceptedAt, attempts, meta?, upstreamTopic?]
 * read straight from the bytes instead of through cbor-x's generic decoder and
 * a type check of what it built.
 *
 * It answers only when every item is in one of the forms it knows (definite
 * lengths up to 32-bit, text as valid UTF-8, a uint or float64 timestamp, a map
 * of text to text or null); for anything else, including every malformed
 * record, it returns undefined and the caller decodes with cbor-x as before.
 * So it never decides that a record is bad: what decodes today still does,
 * and what fails today still fails with the same error.
 *
 * The payload is a subarray of the input bytes (not a copy), as cbor-x returns
 * it: the caller hands in a value buffer that nobody writes again.
 *
 * Synchronous and not re-entrant: the position is module state, as in cbor-x.
 */

declare module 'node:buffer' {
  interface Buffer {
    /** Node's own latin1 decoder behind toString('latin1', from, to), without its argument checks. */
    latin1Slice(from: number, to: number): string
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The record being read, as a Buffer (for latin1Slice), its length, and the read position. */
let src: Buffer = Buffer.alloc(0)
let end = 0
let pos = 0

/** The argument of the head at pos (its major type checked by the caller); -1 for forms not handled. */
function arg(): number {
  const info = src[pos++]! & 0x1f
  if (info < 24) return info
  if (info === 24) {
    if (pos + 1 > end) return -1
    return src[pos++]!
  }
  if (info === 25) {
    if (pos + 2 > end) return -1
    const n = (src[pos]! << 8) | src[pos + 1]!
    pos += 2
    return n
  }
  if (info === 26) {
    if (pos + 4 > end) return -1
    const n = src[pos]! * 0x1000000 + ((src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!)
    pos += 4
    return n
  }
  // 27 (8-byte arguments: cbor-x may give a bigint), 28-30 reserved, 31 indefinite length.
  return -1
}

/** An unsigned integer up to 32 bits; -1 if the item is anything else. */
function uint(): number {
  if (pos >= end || src[pos]! > 0x1a) return -1
  return arg()
}

/** A text string; undefined if the item is anything else or not valid UTF-8. */
function text(): string | undefined {
  const b = src
  if (pos >= end || (b[pos]! & 0xe0) !== 0x60) return undefined
  const n = arg()
  const from = pos
  const to = from + n
  if (n < 0 || to > end) return undefined
  pos = to
  if (n < 16) {
    const s = shortAscii(b, from, n)
    if (s !== undefined) return s
  } else {
    let i = from
    while (i < to && b[i]! < 0x80) i++
    // ASCII: latin1 is the same characters, without a UTF-8 decoder.
    if (i === to) return b.latin1Slice(from, to)
  }
  try {
    return utf8.decode(b.subarray(from, to))
  } catch {
    // Not valid UTF-8: cbor-x decides what such a string becomes.
    return undefined
  }
}

/** Up to 15 ASCII bytes as a string built in JS (a native call costs more); undefined if not ASCII. */
function shortAscii(b: Buffer, at: number, n: number): string | undefined {
  let s = ''
  for (let i = at; i < at + n; i += 4) {
    const a = b[i]!
    if (i + 4 <= at + n) {
      const c1 = b[i + 1]!
      const c2 = b[i + 2]!
      const c3 = b[i + 3]!
      if ((a | c1 | c2 | c3) & 0x80) return undefined
      s += String.fromCharCode(a, c1, c2, c3)
    } else {
      for (let j = i; j < at + n; j++) {
        const c = b[j]!
        if (c & 0x80) return undefined
        s += String.fromCharCode(c)
      }
    }
  }
  return s
}

/**
 * The record in `bytes`, or undefined when it is not in the forms encodeRecord
 * writes (decode it with cbor-x instead). Never throws.
 */
export function readRecord(seq: number, bytes: Uint8Array): StoredEvent | undefined {
  const n = bytes.length
  // Arrays of 9, 10 or 11 items in the one-byte form, version 1.
  if (n < 2 || bytes[0]! < 0x89 || bytes[0]! > 0x8b || bytes[1] !== 0x01) return undefined
  const items = bytes[0]! & 0x1f
  src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, n)
  end = n
  pos = 2
  try {
    return readFields(seq, bytes, items)
  } finally {
    src = EMPTY
  }
}
const EMPTY = Buffer.alloc(0)

function readFields(seq: number, bytes: Uint8Array, items: number): StoredEvent | undefined {
  const id = text()
  if (id === undefined) return undefined
  const clientId = text()
  if (clientId === undefined) return undefined
  const topic = text()
  if (topic === undefined) return undefined
  if (pos >= end || (src[pos]! & 0xe0) !== 0x40) return undefined
  const len = arg()
  if (len < 0 || pos + len > end) return undefined
  // subarray, as cbor-x: a Buffer view for a Buffer value (what LevelDB gives), else a Uint8Array.
  const payload = bytes.subarray(pos, pos + len)
  pos += len
  const qos = uint()
  if ((qos !== 0 && qos !== 1 && qos !== 2) || pos >= end) return undefined
  const flag = src[pos++]
  if (flag !== 0xf4 && flag !== 0xf5) return undefined
  const retain = flag === 0xf5
  let acceptedAt: number
  if (pos < end && src[pos] === 0xfb) {
    if (pos + 9 > end) return undefined
    acceptedAt = src.readDoubleBE(pos + 1)
    pos += 9
  } else {
    acceptedAt = uint()
    if (acceptedAt < 0) return undefined
  }
  const attempts = uint()
  if (attempts < 0) return undefined
  const event: StoredEvent = { seq, id, clientId, topic, payload, qos, retain, acceptedAt }
  if (attempts > 0) event.attempts = attempts
  if (items >= 10) {
    if (pos >= end) return undefined
    if (src[pos] === 0xf6) {
      pos++
    } else {
      if ((src[pos]! & 0xe0) !== 0xa0) return undefined
      const pairs = arg()
      if (pairs < 0) return undefined
      const meta: Record<string, string> = {}
      for (let i = 0; i < pairs; i++) {
        const key = text()
        const value = text()
        // cbor-x guards this key itself; leave it to cbor-x.
        if (key === undefined || value === undefined || key === '__proto__') return undefined
        meta[key] = value
      }
      event.meta = meta
    }
  }
  if (items === 11) {
    const upstreamTopic = text()
    if (upstreamTopic === undefined) return undefined
    event.upstreamTopic = upstreamTopic
  }
  // Trailing bytes: cbor-x's decision.
  if (pos !== end) return undefined
  return event
}

/**
 * Where the items of a record lie in its stored bytes (see StoredRecordBytes in types.ts), with
 * the small fields read; the text items are checked (valid UTF-8), not turned into strings.
 */
export interface RecordLayout {
  textEnd: number
  payloadAt: number
  payloadData: number
  payloadEnd: number
  metaAt: number
  metaEnd: number
  qos: 0 | 1 | 2
  retain: boolean
  acceptedAt: number
  attempts: number
}

/**
 * The layout of a record in exactly the forms encodeRecord writes, which are also the forms a
 * batch writes its items in: shortest heads for text and byte strings, metadata as a map with a
 * two-byte length (or null). Undefined for anything else, including every record readRecord
 * would not read (decode those as before). Never throws. The answer is one object reused by
 * every call (no allocation per record): read it before the next call.
 */
export function scanRecord(bytes: Uint8Array): RecordLayout | undefined {
  const n = bytes.length
  if (n < 2 || bytes[0]! < 0x89 || bytes[0]! > 0x8b || bytes[1] !== 0x01) return undefined
  const items = bytes[0]! & 0x1f
  src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, n)
  end = n
  pos = 2
  try {
    return scanFields(items)
  } finally {
    src = EMPTY
  }
}

/** The head at pos has the shortest form for its argument: `at` is where it started. */
function shortest(at: number, n: number): boolean {
  const len = pos - at
  return n < 24 ? len === 1 : n < 0x100 ? len === 2 : n < 0x10000 ? len === 3 : len === 5
}

/** Past a text item in the shortest form holding valid UTF-8; false if it is anything else. */
function skipText(): boolean {
  if (pos >= end || (src[pos]! & 0xe0) !== 0x60) return false
  const at = pos
  const n = arg()
  if (n < 0 || pos + n > end || !shortest(at, n)) return false
  const from = pos
  pos += n
  for (let i = from; i < pos; i++) {
    if (src[i]! >= 0x80) {
      try {
        utf8.decode(src.subarray(from, pos))
        return true
      } catch {
        return false
      }
    }
  }
  return true
}

function scanFields(items: number): RecordLayout | undefined {
  if (!skipText() || !skipText() || !skipText()) return undefined
  const textEnd = pos
  const payloadAt = pos
  if (pos >= end || (src[pos]! & 0xe0) !== 0x40) return undefined
  const len = arg()
  if (len < 0 || pos + len > end || !shortest(payloadAt, len)) return undefined
  const payloadData = pos
  pos += len
  const payloadEnd = pos
  const qos = uint()
  if ((qos !== 0 && qos !== 1 && qos !== 2) || pos >= end) return undefined
  const flag = src[pos++]
  if (flag !== 0xf4 && flag !== 0xf5) return undefined
  let acceptedAt: number
  if (pos < end && src[pos] === 0xfb) {
    if (pos + 9 > end) return undefined
    acceptedAt = src.readDoubleBE(pos + 1)
    pos += 9
  } else {
    acceptedAt = uint()
    if (acceptedAt < 0) return undefined
  }
  const attempts = uint()
  if (attempts < 0) return undefined
  let metaAt = -1
  let metaEnd = -1
  if (items >= 10) {
    if (pos >= end) return undefined
    if (src[pos] === 0xf6) {
      pos++
    } else {
      // The map head as a batch writes it: two-byte length.
      if (src[pos] !== 0xb9 || pos + 3 > end) return undefined
      metaAt = pos
      const pairs = (src[pos + 1]! << 8) | src[pos + 2]!
      pos += 3
      for (let i = 0; i < pairs; i++) {
        const keyAt = pos
        if (!skipText()) return undefined
        // cbor-x guards this key itself (readRecord leaves it to cbor-x too).
        if (pos - keyAt === 10 && src.latin1Slice(keyAt + 1, pos) === '__proto__') return undefined
        if (!skipText()) return undefined
      }
      metaEnd = pos
    }
  }
  if (items === 11 && !skipText()) return undefined
  if (pos !== end) return undefined
  const l = layout
  l.textEnd = textEnd
  l.payloadAt = payloadAt
  l.payloadData = payloadData
  l.payloadEnd = payloadEnd
  l.metaAt = metaAt
  l.metaEnd = metaEnd
  l.qos = qos
  l.retain = flag === 0xf5
  l.acceptedAt = acceptedAt
  l.attempts = attempts
  return l
}
const layout: RecordLayout = { textEnd: 0, payloadAt: 0, payloadData: 0, payloadEnd: 0, metaAt: -1, metaEnd: -1, qos: 0, retain: false, acceptedAt: 0, attempts: 0 }
