import { encodeRecordInto, recordBound } from './record-codec.js'
import type { StoredEvent } from './types.js'

/**
 * The encoded records of the appends waiting for the next group commit, back
 * to back in one buffer, with their sequence numbers and end offsets in typed
 * arrays. The commit hands each to LevelDB's batch, which copies the bytes,
 * and the buffer is written over by the appends after it.
 *
 * Why: with a buffer, a key string and an op object per append, every event
 * waiting for the fsync kept three more objects alive; in a burst thousands
 * wait at once, V8's young-generation collections found them alive and copied
 * them (docs/performance.md). Pure: no I/O.
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
  /** Bytes the slab holds now (its buffer, not what is in it). */
  readonly capacity: number
}

const INITIAL_BYTES = 64 * 1024
/** A slab grown past this by large payloads is not kept once taken. */
const KEEP_BYTES = 4 * 1024 * 1024

export function createPutSlab(initialBytes = INITIAL_BYTES): PutSlab {
  let buf = Buffer.allocUnsafe(initialBytes)
  let seqs = new Float64Array(1024)
  let ends = new Uint32Array(1024)
  let n = 0

  const used = (): number => (n === 0 ? 0 : ends[n - 1]!)

  function room(bytes: number): void {
    const at = used()
    if (at + bytes > buf.length) {
      const next = Buffer.allocUnsafe(Math.max(buf.length * 2, at + bytes))
      buf.copy(next, 0, 0, at)
      buf = next
    }
    if (n === seqs.length) {
      const s = new Float64Array(n * 2)
      s.set(seqs)
      seqs = s
      const e = new Uint32Array(n * 2)
      e.set(ends)
      ends = e
    }
  }

  return {
    add(event) {
      room(recordBound(event))
      const at = used()
      const end = encodeRecordInto(event, buf, at)
      seqs[n] = event.seq
      ends[n] = end
      n++
      return end - at
    },
    dropLast() {
      if (n > 0) n--
    },
    take(visit) {
      const count = n
      // Emptied first: a visit that throws leaves nothing behind for the next commit.
      n = 0
      let at = 0
      for (let i = 0; i < count; i++) {
        const end = ends[i]!
        visit(seqs[i]!, buf.subarray(at, end))
        at = end
      }
      if (buf.length > KEEP_BYTES) buf = Buffer.allocUnsafe(initialBytes)
    },
    get count() {
      return n
    },
    get capacity() {
      return buf.length
    },
  }
}
