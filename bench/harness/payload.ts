/**
 * The benchmark payload: 100 bytes (by default) that carry who sent it and
 * when, so the subscriber can count unique events and measure latency:
 *
 *   0..3   run tag (u32)      which system-round this event belongs to
 *   4..7   publisher (u32)    index of the device connection
 *   8..11  seq (u32)          per-publisher sequence, 0-based
 *   12..19 sent at (u64)      process.hrtime.bigint() at the write; CLOCK_MONOTONIC,
 *                             the same clock in every thread and process of this machine
 *   20..   filler 'a'
 */
export const PAYLOAD_BYTES = 100
const FILL = 0x61

export function writePayload(into: Buffer, at: number, tag: number, publisher: number, seq: number, sentAt: bigint): void {
  into.writeUInt32BE(tag, at)
  into.writeUInt32BE(publisher, at + 4)
  into.writeUInt32BE(seq, at + 8)
  into.writeBigUInt64BE(sentAt, at + 12)
}

/** The constant part of every payload, copied once per template. */
export function fillPayload(into: Buffer, at: number, length = PAYLOAD_BYTES): void {
  into.fill(FILL, at + 20, at + length)
}

export interface PayloadFields {
  tag: number
  publisher: number
  seq: number
  sentAt: bigint
}

export function readPayload(bytes: Uint8Array): PayloadFields | null {
  if (bytes.byteLength < 20) return null
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { tag: b.readUInt32BE(0), publisher: b.readUInt32BE(4), seq: b.readUInt32BE(8), sentAt: b.readBigUInt64BE(12) }
}
