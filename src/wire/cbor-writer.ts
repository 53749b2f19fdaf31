/**
 * CBOR written field by field into one buffer of a known upper bound, in the
 * forms cbor-x writes (so cbor-x decodes it, and tests can compare bytes):
 * shortest integer heads, UTF-8 text, byte strings, float64 for numbers that
 * are not 32-bit integers, maps with a two-byte length. For hot paths that
 * would otherwise build an array per value for cbor-x and copy its output.
 */

/** Strings up to this many UTF-16 units are measured and copied in JS when they are ASCII. */
const SHORT = 48

/** UTF-8 length; short ASCII strings (nearly all client ids and topics) without a native call. */
export function utf8Bytes(s: string): number {
  if (s.length > SHORT) return Buffer.byteLength(s)
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s)
  return s.length
}

/** CBOR into one buffer of a known upper bound: a new one, or `into` from offset `at` on. */
export class CborWriter {
  readonly buf: Buffer
  at: number
  constructor(bound: number, into?: Buffer, at = 0) {
    this.buf = into ?? Buffer.allocUnsafe(bound)
    this.at = at
  }

  bytes(b: Uint8Array | number[]): void {
    this.buf.set(b, this.at)
    this.at += b.length
  }

  /** A major type's header with the shortest argument. */
  head(major: number, n: number): void {
    const buf = this.buf
    if (n < 24) {
      buf[this.at++] = major | n
    } else if (n < 0x100) {
      buf[this.at++] = major | 24
      buf[this.at++] = n
    } else if (n < 0x10000) {
      buf[this.at++] = major | 25
      buf[this.at++] = n >> 8
      buf[this.at++] = n & 0xff
    } else {
      buf[this.at++] = major | 26
      this.at = buf.writeUInt32BE(n, this.at)
    }
  }

  uint(n: number): void {
    this.head(0x00, n)
  }

  /** An unsigned integer, always in the 8-byte form (what cbor-x writes for a bigint). */
  uint64(n: number): void {
    const hi = Math.floor(n / 0x100000000)
    const lo = n >>> 0
    const buf = this.buf
    const at = this.at
    buf[at] = 0x1b
    buf[at + 1] = hi >>> 24
    buf[at + 2] = (hi >>> 16) & 0xff
    buf[at + 3] = (hi >>> 8) & 0xff
    buf[at + 4] = hi & 0xff
    buf[at + 5] = lo >>> 24
    buf[at + 6] = (lo >>> 16) & 0xff
    buf[at + 7] = (lo >>> 8) & 0xff
    buf[at + 8] = lo & 0xff
    this.at = at + 9
  }

  text(s: string): void {
    const buf = this.buf
    const n = s.length
    if (n <= SHORT) {
      let ascii = true
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) > 0x7f) {
          ascii = false
          break
        }
      }
      if (ascii) {
        this.head(0x60, n)
        const at = this.at
        for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i)
        this.at = at + n
        return
      }
    }
    this.head(0x60, Buffer.byteLength(s))
    this.at += buf.write(s, this.at, 'utf8')
  }

  byteString(b: Uint8Array): void {
    this.head(0x40, b.byteLength)
    this.buf.set(b, this.at)
    this.at += b.byteLength
  }

  /** A float64, as cbor-x writes a number that is not a 32-bit integer (a ms timestamp). */
  float64(n: number): void {
    this.buf[this.at] = 0xfb
    this.buf.writeDoubleBE(n, this.at + 1)
    this.at += 9
  }

  /** A map of strings with a two-byte length, as cbor-x writes a plain object. */
  stringMap(m: Readonly<Record<string, string>>): void {
    const keys = Object.keys(m)
    const buf = this.buf
    buf[this.at++] = 0xb9
    buf[this.at++] = keys.length >> 8
    buf[this.at++] = keys.length & 0xff
    for (const key of keys) {
      this.text(key)
      this.text(m[key]!)
    }
  }

  /** The bytes written: a view on the buffer, which is not written again. */
  done(): Buffer {
    return this.buf.subarray(0, this.at)
  }
}

