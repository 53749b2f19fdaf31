/**
 * How the deletes of acknowledged records are written. A run of consecutive
 * sequence numbers (what a batch's PUBACK, or an uplink draining in order,
 * gives) becomes one range delete: LevelDB walks the range and deletes in its
 * thread pool, without a JavaScript call per key. Shorter runs and stragglers
 * are deleted key by key. Pure: no I/O, tested on its own.
 *
 * Only seqs the caller says are removed go in, and a range covers only
 * consecutive seqs that all went in: a range never covers a record that is
 * still pending.
 */
export interface DeletePlan {
  /** Deleted key by key, ascending. */
  keys: number[]
  /** Deleted as ranges: [from, to), to exclusive, ascending, not overlapping. */
  ranges: Array<[number, number]>
}

export function planDeletes(seqs: readonly number[], minRun: number): DeletePlan {
  const keys: number[] = []
  const ranges: Array<[number, number]> = []
  if (seqs.length === 0) return { keys, ranges }
  let sorted: ArrayLike<number> = seqs
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! <= seqs[i - 1]!) {
      sorted = Float64Array.from(seqs).sort()
      break
    }
  }
  let i = 0
  while (i < sorted.length) {
    const from = sorted[i]!
    let to = from + 1
    let j = i + 1
    // Duplicates (a record queued twice) are skipped; the run goes on while seqs are consecutive.
    while (j < sorted.length && sorted[j]! <= to) {
      if (sorted[j] === to) to++
      j++
    }
    if (to - from >= minRun) ranges.push([from, to])
    else for (let seq = from; seq < to; seq++) keys.push(seq)
    i = j
  }
  return { keys, ranges }
}

/**
 * The ranges a previous run stored before writing them (see spool.ts,
 * flushDeletes), or none when the stored value is not a list of
 * [from, to) pairs of sequence numbers.
 */
export function storedRanges(value: unknown): Array<[number, number]> {
  if (!Array.isArray(value)) return []
  const out: Array<[number, number]> = []
  for (const r of value) {
    if (!Array.isArray(r) || r.length !== 2) return []
    const [from, to] = r as unknown[]
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || (from as number) < 0 || (to as number) <= (from as number)) return []
    out.push([from as number, to as number])
  }
  return out
}
