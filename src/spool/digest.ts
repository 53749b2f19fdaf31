import type { EventInput } from './types.js'

/**
 * What an event carried, as a 53-bit number: two 32-bit FNV-1a style hashes
 * (different offsets and primes) over the topic, QoS, retain flag and
 * payload. The dedup window compares it to tell a re-send of the same packet
 * from a new message that reuses a packet id. Not a cryptographic hash: a
 * device gains nothing by forging a collision with its own packet id, and a
 * chance collision needs the same packet id within the window as well
 * (odds about 2^-53). A plain loop: far cheaper per event than a crypto hash
 * object, which costs more to create than to feed 100 bytes.
 */
export function eventDigest(input: Pick<EventInput, 'topic' | 'qos' | 'retain' | 'payload'>): number {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  const { topic, payload } = input
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x0100019d)
  }
  const flags = 0x100 | (input.qos << 1) | (input.retain ? 1 : 0)
  a = Math.imul(a ^ flags, 0x01000193)
  b = Math.imul(b ^ flags, 0x0100019d)
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]!
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x0100019d)
  }
  // Length last, so payloads that differ only by trailing zero bytes differ.
  a = Math.imul(a ^ payload.length, 0x01000193)
  b = Math.imul(b ^ (payload.length >>> 8), 0x0100019d)
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff)
}
