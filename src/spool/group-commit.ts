/**
 * Group commit: many writers, one synced write at a time. Operations that arrive
 * while a write is in flight wait for it and then share the next one; an
 * operation that arrives when nothing is in flight waits at most `delayMs` for
 * company. Each caller's promise settles with the write that carried its ops:
 * the callers of one write share its promise (no promise per caller).
 * `submitThen` takes a callback instead, called in submission order once the
 * write is done: the spool's appends, one per event, need no promise at all
 * (`addThen`: nor an array).
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
  /**
   * A submitThen callback threw. The other callbacks of its write are still
   * called; by default the error is thrown again on its own, as an uncaught
   * exception, as a throw in a promise callback would surface.
   */
  onCallbackError?: (err: unknown) => void
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
  /** As submit, but `done` is called (err null: written) instead of a promise settling. */
  submitThen(ops: Op[], done: (err: unknown) => void): void
  /** submitThen of a single op, without an array for it. */
  addThen(op: Op, done: (err: unknown) => void): void
  /** Resolves when everything submitted so far is written (or failed). */
  drain(): Promise<void>
  readonly pending: number
}

const rethrowLater = (err: unknown): void => {
  queueMicrotask(() => { throw err })
}

/** Every callback of one write, in order; one that throws does not keep the others from hearing of it. */
function callAll(done: ReadonlyArray<(err: unknown) => void>, err: unknown, onError: (err: unknown) => void): void {
  for (const cb of done) {
    try {
      cb(err)
    } catch (thrown) {
      onError(thrown)
    }
  }
}

export function createGroupCommit<Op>(opts: GroupCommitOptions<Op>): GroupCommit<Op> {
  let queued: Op[] = []
  /** Shared by every submit whose ops are in `queued`: one promise per write, not per caller. */
  let next: Pending | null = null
  /** The submitThen callbacks of the ops in `queued`, in submission order. */
  let callbacks: Array<(err: unknown) => void> = []
  let inFlight: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null
  let immediate: NodeJS.Immediate | null = null
  const onCallbackError = opts.onCallbackError ?? rethrowLater

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
    const settle = next
    const done = callbacks
    queued = []
    next = null
    callbacks = []
    inFlight = opts.write(ops).then(
      () => {
        opts.onCommit?.(ops.length)
        callAll(done, null, onCallbackError)
        settle?.resolve()
      },
      (err: unknown) => {
        callAll(done, err, onCallbackError)
        settle?.reject(err)
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
    submitThen(ops, done) {
      for (const op of ops) queued.push(op)
      callbacks.push(done)
      schedule()
    },
    addThen(op, done) {
      queued.push(op)
      callbacks.push(done)
      schedule()
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
