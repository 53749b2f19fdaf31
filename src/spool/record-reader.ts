import type { StoredEvent } from './types.js'

/**
 * A decoder for exactly the record layout encodeRecord writes (record-codec.ts):
 * a definite-length array of 9 to 11 items,
 *   [1, id, clientId, topic, payload, qos, retain, acceptedAt, attempts, meta?, upstreamTopic?]
 * read straight from the bytes instead of through cbor-x's generic decoder and
 * a type check of what it built.
 *
 * It answers only when every item is in one of the forms it knows (definite
 * lengths, text as valid UTF-8, a uint or float64 timestamp, a map of text to
 * text or null); for anything else, including every malformed record, it
 * returns undefined and the caller decodes with cbor-x as before. So it never
 * decides that a record is bad: what decodes today still does, and what
 * fails today still fails with the same error.
 *
 * The payload is a view on the input bytes (not a copy), as cbor-x returns it:
 * the caller hands in a value buffer that nobody writes again.
 */

/** Strings up to this many bytes are built in JS when they are ASCII. */
const SHORT = 64
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
/** A float64 is read through these: no DataView per record. */
const f64 = new Float64Array(1)
const f64Bytes = new Uint8Array(f64.buffer)
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** The big-endian float64 at b[at]. */
function float64(b: Uint8Array, at: number): number {
  if (littleEndian) for (let i = 0; i < 8; i++) f64Bytes[i] = b[at + 7 - i]!
  else for (let i = 0; i < 8; i++) f64Bytes[i] = b[at + i]!
  return f64[0]!
}

/** Where the reader is; `bad` once anything did not fit (the caller then falls back). */
interface Cursor {
  at: number
  bad: boolean
}

/** The argument of a head whose major type the caller checked; -1 for forms not handled. */
function arg(b: Uint8Array, c: Cursor, end: number): number {
  const info = b[c.at++]! & 0x1f
  if (info < 24) return info
  if (info === 24) {
    if (c.at + 1 > end) return -1
    return b[c.at++]!
  }
  if (info === 25) {
    if (c.at + 2 > end) return -1
    const n = (b[c.at]! << 8) | b[c.at + 1]!
    c.at += 2
    return n
  }
  if (info === 26) {
    if (c.at + 4 > end) return -1
    const n = ((b[c.at]! << 24) >>> 0) + ((b[c.at + 1]! << 16) | (b[c.at + 2]! << 8) | b[c.at + 3]!)
    c.at += 4
    return n
  }
  // 27 (8-byte arguments: cbor-x may give a bigint), 28-30 reserved, 31 indefinite length.
  return -1
}

function uint(b: Uint8Array, c: Cursor, end: number): number {
  if (c.bad || c.at >= end || (b[c.at]! & 0xe0) !== 0x00) {
    c.bad = true
    return 0
  }
  const n = arg(b, c, end)
  if (n < 0) c.bad = true
  return n
}

function text(b: Uint8Array, c: Cursor, end: number): string {
  if (c.bad || c.at >= end || (b[c.at]! & 0xe0) !== 0x60) {
    c.bad = true
    return ''
  }
  const n = arg(b, c, end)
  const from = c.at
  if (n < 0 || from + n > end) {
    c.bad = true
    return ''
  }
  c.at = from + n
  if (n <= SHORT) {
    let ascii = true
    for (let i = from; i < from + n; i++) {
      if (b[i]! > 0x7f) {
        ascii = false
        break
      }
    }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(from, from + n) as unknown as number[])
  }
  try {
    return utf8.decode(b.subarray(from, from + n))
  } catch {
    // Not valid UTF-8: cbor-x decides what such a string becomes.
    c.bad = true
    return ''
  }
}

/**
 * The record in `bytes`, or undefined when it is not in the forms encodeRecord
 * writes (decode it with cbor-x instead). Never throws.
 */
export function readRecord(seq: number, bytes: Uint8Array): StoredEvent | undefined {
  const b = bytes
  const end = b.length
  if (end < 1) return undefined
  const head = b[0]!
  // Arrays of 9, 10 or 11 items in the one-byte form.
  if (head < 0x89 || head > 0x8b) return undefined
  const items = head & 0x1f
  const c: Cursor = { at: 1, bad: false }
  if (uint(b, c, end) !== 1) return undefined
  const id = text(b, c, end)
  const clientId = text(b, c, end)
  const topic = text(b, c, end)
  if (c.bad || c.at >= end || (b[c.at]! & 0xe0) !== 0x40) return undefined
  const len = arg(b, c, end)
  if (len < 0 || c.at + len > end) return undefined
  // subarray, as cbor-x: a Buffer view for a Buffer value (what LevelDB gives), else a Uint8Array.
  const payload = b.subarray(c.at, c.at + len)
  c.at += len
  const qos = uint(b, c, end)
  if (c.bad || (qos !== 0 && qos !== 1 && qos !== 2) || c.at >= end) return undefined
  const flag = b[c.at++]
  if (flag !== 0xf4 && flag !== 0xf5) return undefined
  const retain = flag === 0xf5
  let acceptedAt: number
  if (c.at < end && b[c.at] === 0xfb) {
    if (c.at + 9 > end) return undefined
    acceptedAt = float64(b, c.at + 1)
    c.at += 9
  } else {
    acceptedAt = uint(b, c, end)
  }
  const attempts = uint(b, c, end)
  if (c.bad) return undefined
  const event: StoredEvent = { seq, id, clientId, topic, payload, qos, retain, acceptedAt }
  if (attempts > 0) event.attempts = attempts
  if (items >= 10) {
    if (c.at >= end) return undefined
    if (b[c.at] === 0xf6) {
      c.at++
    } else {
      if ((b[c.at]! & 0xe0) !== 0xa0) return undefined
      const pairs = arg(b, c, end)
      if (pairs < 0) return undefined
      const meta: Record<string, string> = {}
      for (let i = 0; i < pairs; i++) {
        const key = text(b, c, end)
        const value = text(b, c, end)
        // cbor-x guards this key itself; leave it to cbor-x.
        if (c.bad || key === '__proto__') return undefined
        meta[key] = value
      }
      event.meta = meta
    }
  }
  if (items === 11) {
    const upstreamTopic = text(b, c, end)
    if (c.bad) return undefined
    event.upstreamTopic = upstreamTopic
  }
  // Trailing bytes: cbor-x's decision.
  if (c.at !== end) return undefined
  return event
}
