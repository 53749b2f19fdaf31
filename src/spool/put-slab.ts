import { encodeRecordInto, recordBound } from './record-codec.js'
import type { StoredEvent } from './types.js'

/**
 * The encoded records of the appends waiting for the next group commit, back
 * to back in buffers of CHUNK_BYTES (a record larger than that gets one of its
 * own), with their sequence numbers and places in typed arrays. The commit
 * hands each to LevelDB's batch, which copies the bytes, and the first buffer
 * is written over by the appends after it; the others are let go.
 *
 * Why: with a buffer, a key string and an op object per append, every event
 * waiting for the fsync kept three more objects alive; in a burst thousands
 * wait at once, and V8's young-generation collections found them alive and
 * copied them (docs/performance.md). Chunks rather than one growing buffer: a
 * commit of large payloads is never copied to make room, and holds at most one
 * chunk more than its records. Pure: no I/O.
 */
export interface PutSlab {
  /** Encode a record at the end; returns its encoded length. */
  add(event: StoredEvent): number
  /** Take back the record added last (an append refused after it was encoded). */
  dropLast(): void
  /**
   * Every record added since the last take, oldest first, then empty. `value`
   * is a view on the slab, valid only during the call: copy it or use it at once.
   */
  take(visit: (seq: number, value: Buffer) => void): void
  /** Records added and not taken. */
  readonly count: number
  /** Bytes of the buffers held now (not what is in them). */
  readonly capacity: number
}

const CHUNK_BYTES = 256 * 1024

export function createPutSlab(chunkBytes = CHUNK_BYTES): PutSlab {
  let chunks: Buffer[] = [Buffer.allocUnsafe(chunkBytes)]
  /** Where the next record goes: chunks[last], from `at`. */
  let at = 0
  let seqs = new Float64Array(1024)
  let inChunk = new Uint32Array(1024)
  let starts = new Uint32Array(1024)
  let ends = new Uint32Array(1024)
  let n = 0

  function grow(): void {
    const size = n * 2
    const s = new Float64Array(size)
    s.set(seqs)
    seqs = s
    inChunk = wider(inChunk, size)
    starts = wider(starts, size)
    ends = wider(ends, size)
  }

  return {
    add(event) {
      const bound = recordBound(event)
      let chunk = chunks[chunks.length - 1]!
      if (at + bound > chunk.length) {
        chunk = Buffer.allocUnsafe(Math.max(chunkBytes, bound))
        chunks.push(chunk)
        at = 0
      }
      if (n === seqs.length) grow()
      const start = at
      const end = encodeRecordInto(event, chunk, start)
      seqs[n] = event.seq
      inChunk[n] = chunks.length - 1
      starts[n] = start
      ends[n] = end
      n++
      at = end
      return end - start
    },
    dropLast() {
      if (n === 0) return
      n--
      // The record's bytes stay where they are until a take; only its place is given back
      // when it was the newest thing in the newest chunk (it always is: dropLast follows add).
      if (inChunk[n] === chunks.length - 1) at = starts[n]!
    },
    take(visit) {
      const count = n
      const held = chunks
      // Emptied first: a visit that throws leaves nothing behind for the next commit.
      n = 0
      at = 0
      // The first chunk (always chunkBytes) is written over next; the others go.
      chunks = [held[0]!]
      for (let i = 0; i < count; i++) visit(seqs[i]!, held[inChunk[i]!]!.subarray(starts[i]!, ends[i]!))
    },
    get count() {
      return n
    },
    get capacity() {
      let bytes = 0
      for (const c of chunks) bytes += c.length
      return bytes
    },
  }
}

function wider(a: Uint32Array<ArrayBuffer>, size: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(size)
  b.set(a)
  return b
}
