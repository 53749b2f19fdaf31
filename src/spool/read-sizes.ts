/**
 * The logical size of each record handed out by a store read, kept until the
 * record is acked, for exact byte accounting. Reads cover ascending ranges,
 * so each read keeps one array indexed by seq offset instead of a map entry
 * per record (a Map insert per record was most of a read's own time).
 * Bounded: past `max` sizes the oldest reads are forgotten (the spool then
 * uses its average record size). Pure.
 */
export interface ReadSizes {
  /** A read starting at seq `from`: record each record's size on what this returns. */
  begin(from: number): (seq: number, size: number) => void
  /** The size of a record read and not yet taken; forgets it. */
  take(seq: number): number | undefined
  clear(): void
}

export function createReadSizes(max: number): ReadSizes {
  let reads: Array<{ from: number; sizes: number[] }> = []
  let total = 0
  return {
    begin(from) {
      const read = { from, sizes: [] as number[] }
      reads.push(read)
      return (seq, size) => {
        const i = seq - read.from
        // Fill skipped positions (records gone from the store) so the array stays packed.
        while (read.sizes.length < i) read.sizes.push(-1)
        read.sizes.push(size)
        total++
        while (total > max && reads.length > 1) total -= reads.shift()!.sizes.length
      }
    },
    take(seq) {
      for (let r = reads.length - 1; r >= 0; r--) {
        const read = reads[r]!
        const i = seq - read.from
        if (i < 0 || i >= read.sizes.length) continue
        const size = read.sizes[i]!
        if (size < 0) continue
        read.sizes[i] = -1
        return size
      }
      return undefined
    },
    clear() {
      reads = []
      total = 0
    },
  }
}
