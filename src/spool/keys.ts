/**
 * Sequence numbers become fixed-width lowercase hex strings, so LevelDB's
 * byte-wise key order is numeric order. 16 hex digits hold any safe integer.
 */
const WIDTH = 16

export function seqKey(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new TypeError(`sequence number must be a non-negative safe integer, got ${seq}`)
  }
  return seq.toString(16).padStart(WIDTH, '0')
}

/** Returns null for a key that is not a well-formed sequence key. */
export function parseSeqKey(key: string): number | null {
  const n = seqKeyAt(key, 0)
  return Number.isNaN(n) ? null : n
}

/**
 * The sequence number of a key that is `from` characters of prefix and then a
 * sequence key (a sublevel's key read from the root store), without taking a
 * substring: the spool's reads parse one per record. NaN when it is not one.
 */
export function seqKeyAt(key: string, from: number): number {
  if (key.length !== from + WIDTH) return Number.NaN
  let n = 0
  for (let i = from; i < key.length; i++) {
    const c = key.charCodeAt(i)
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1
    if (d < 0) return Number.NaN
    n = n * 16 + d
  }
  return Number.isSafeInteger(n) ? n : Number.NaN
}

/** Event ids: `<gatewayId>-<epoch>-<seq>`, unique per gateway, never reused. */
export function eventId(gatewayId: string, epoch: number, seq: number): string {
  return `${gatewayId}-${epoch}-${seq}`
}
