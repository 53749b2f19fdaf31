import { CborWriter } from '../wire/cbor-writer.js'
import { decodeValue } from './record-codec.js'
import { seqKey } from './keys.js'

/**
 * How the dedup windows (dedup-window.ts) reach the disk: not one key per
 * event, but one key per device per group-commit batch, holding that batch's
 * (packet id, digest, seq) triples. Ten busy devices cost ten puts per batch
 * instead of a put and a delete per event, and the key is still written in
 * the same atomic batch as the records it describes.
 *
 *   key   `<clientId>\0b<seqKey(first seq in the batch)>`
 *   value CBOR `[idPrefix, messageId, digest, seq, messageId, digest, seq, ...]`
 *         where an event's id is idPrefix + seq (`<gatewayId>-<epoch>-`).
 *
 * Keys of older versions, `<clientId>\0<messageId>` holding one entry (a map
 * `{digest, seq, id}`), are still read; they are deleted like any other once
 * newer keys cover the window.
 */

/** One remembered packet of a device. */
export interface StoredDedupEntry {
  messageId: number
  /** eventDigest(); a sha1 string in entries of older versions. */
  digest: number | string
  seq: number
  id: string
}

export function dedupPrefix(clientId: string): { gte: string; lt: string } {
  return { gte: `${clientId}\u0000`, lt: `${clientId}\u0001` }
}

export function dedupBatchKey(clientId: string, firstSeq: number): string {
  return `${clientId}\u0000b${seqKey(firstSeq)}`
}

/**
 * `triples`: messageId, digest, seq, repeated. Written field by field, the
 * bytes cbor-x gives for the array (a commit writes one per device; through
 * cbor-x it was a copy of the triples into a new array and an encoder pass).
 */
export function encodeDedupBatch(idPrefix: string, triples: readonly number[]): Uint8Array {
  const w = new CborWriter(5 + 5 + idPrefix.length * 3 + triples.length * 9)
  w.head(0x80, triples.length + 1)
  w.text(idPrefix)
  for (let i = 0; i < triples.length; i++) {
    const n = triples[i]!
    // cbor-x's forms: an integer head up to 32 bits, a float64 above (digests are 53-bit).
    if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) w.uint(n)
    else w.float64(n)
  }
  return w.done()
}

/** The entries under one stored key, oldest first; throws on a layout it does not know. */
export function decodeDedupKey(clientId: string, key: string, raw: Uint8Array): StoredDedupEntry[] {
  const rest = key.slice(clientId.length + 1)
  const v = decodeValue(raw)
  if (rest.startsWith('b')) {
    if (!Array.isArray(v) || typeof v[0] !== 'string' || (v.length - 1) % 3 !== 0) throw new Error('unknown dedup batch layout')
    const out: StoredDedupEntry[] = []
    for (let i = 1; i < v.length; i += 3) {
      const [messageId, digest, seq] = [v[i], v[i + 1], v[i + 2]] as unknown[]
      if (typeof messageId !== 'number' || typeof digest !== 'number' || typeof seq !== 'number') throw new Error('dedup batch entry of the wrong type')
      out.push({ messageId, digest, seq, id: `${v[0] as string}${seq}` })
    }
    return out
  }
  const messageId = Number(rest)
  const m = v as { digest?: unknown; seq?: unknown; id?: unknown } | null
  if (!Number.isInteger(messageId) || m === null || typeof m !== 'object' || typeof m.digest !== 'string' ||
    typeof m.seq !== 'number' || typeof m.id !== 'string') throw new Error('unknown dedup entry layout')
  return [{ messageId, digest: m.digest, seq: m.seq, id: m.id }]
}

/**
 * Which stored keys of each device may go: the oldest, as long as the newer
 * ones still hold at least `window` entries (the in-memory window's size).
 * Only devices that published in this run are tracked, from their first
 * publish (their keys from earlier runs are registered when loaded).
 */
export interface DedupKeyIndex {
  /** Keys found on disk for a device, oldest first. */
  loaded(clientId: string, keys: ReadonlyArray<{ key: string; count: number }>): void
  /** A key written now; returns the keys to delete in the same batch. */
  added(clientId: string, key: string, count: number): string[]
}

export function createDedupKeyIndex(window: number): DedupKeyIndex {
  const devices = new Map<string, { keys: Array<{ key: string; count: number }>; total: number }>()
  const entry = (clientId: string): { keys: Array<{ key: string; count: number }>; total: number } => {
    let d = devices.get(clientId)
    if (d === undefined) {
      d = { keys: [], total: 0 }
      devices.set(clientId, d)
    }
    return d
  }
  return {
    loaded(clientId, keys) {
      const d = entry(clientId)
      for (const k of keys) {
        d.keys.push({ key: k.key, count: k.count })
        d.total += k.count
      }
    },
    added(clientId, key, count) {
      const d = entry(clientId)
      d.keys.push({ key, count })
      d.total += count
      const gone: string[] = []
      while (d.keys.length > 1 && d.total - d.keys[0]!.count >= window) {
        const oldest = d.keys.shift()!
        d.total -= oldest.count
        gone.push(oldest.key)
      }
      return gone
    },
  }
}
