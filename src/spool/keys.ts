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
  if (key.length !== WIDTH || !/^[0-9a-f]+$/.test(key)) return null
  const n = Number.parseInt(key, 16)
  return Number.isSafeInteger(n) ? n : null
}

/** Event ids: `<gatewayId>-<epoch>-<seq>`, unique per gateway, never reused. */
export function eventId(gatewayId: string, epoch: number, seq: number): string {
  return `${gatewayId}-${epoch}-${seq}`
}
