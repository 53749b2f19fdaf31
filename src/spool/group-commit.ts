/**
 * Group commit: many writers, one synced write at a time. Operations that arrive
 * while a write is in flight wait for it and then share the next one; an
 * operation that arrives when nothing is in flight waits at most `delayMs` for
 * company. Each caller's promise settles with the write that carried its ops:
 * the callers of one write share its promise (no promise per caller).
 *
 * Pure of I/O: the write function and the timer are injected, so the batching
 * rules are tested without a disk.
 */
export interface GroupCommitOptions<Op> {
  write: (ops: Op[]) => Promise<void>
  delayMs: number
  maxBatch: number
  /** Called after every successful write with the number of ops it carried. */
  onCommit?: (count: number) => void
}

/** The promise every submit of one write gets, and how to settle it. */
interface Pending {
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

function pending(): Pending {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

export interface GroupCommit<Op> {
  /** Queue ops; resolves once they are written. Ops from one call stay together. */
  submit(ops: Op[]): Promise<void>
  /** Resolves when everything submitted so far is written (or failed). */
  drain(): Promise<void>
  readonly pending: number
}

export function createGroupCommit<Op>(opts: GroupCommitOptions<Op>): GroupCommit<Op> {
  let queued: Op[] = []
  /** Shared by every submit whose ops are in `queued`: one promise per write, not per caller. */
  let next: Pending | null = null
  let inFlight: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null
  let immediate: NodeJS.Immediate | null = null

  function schedule(): void {
    if (inFlight) return
    if (queued.length >= opts.maxBatch) {
      flush()
    } else if (timer || immediate) {
      return
    } else if (opts.delayMs > 0) {
      timer = setTimeout(flush, opts.delayMs)
    } else {
      immediate = setImmediate(flush)
    }
  }

  function flush(): void {
    if (timer) { clearTimeout(timer); timer = null }
    if (immediate) { clearImmediate(immediate); immediate = null }
    if (inFlight || queued.length === 0) return
    const ops = queued
    const settle = next!
    queued = []
    next = null
    inFlight = opts.write(ops).then(
      () => {
        opts.onCommit?.(ops.length)
        settle.resolve()
      },
      (err: unknown) => {
        settle.reject(err)
      },
    ).finally(() => {
      inFlight = null
      // What arrived during the write goes now: it has already waited.
      if (queued.length > 0) flush()
    })
  }

  return {
    submit(ops) {
      for (const op of ops) queued.push(op)
      next ??= pending()
      const { promise } = next
      schedule()
      return promise
    },
    async drain() {
      while (inFlight || queued.length > 0) {
        if (!inFlight) flush()
        await inFlight
      }
    },
    get pending() {
      return queued.length
    },
  }
}
