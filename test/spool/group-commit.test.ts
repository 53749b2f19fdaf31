import t from 'tap'
import { createGroupCommit } from '../../src/spool/group-commit.js'

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void
  let reject!: (e: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** A group commit whose writes are recorded and finish only when the test opens their gate. */
function gated(): { gc: ReturnType<typeof createGroupCommit<number>>; writes: number[][]; gates: Array<ReturnType<typeof deferred>> } {
  const writes: number[][] = []
  const gates: Array<ReturnType<typeof deferred>> = []
  const gc = createGroupCommit<number>({
    delayMs: 0,
    maxBatch: 1000,
    write: (ops) => { writes.push([...ops]); const d = deferred(); gates.push(d); return d.promise },
  })
  return { gc, writes, gates }
}

t.test('ops arriving while a write is in flight share the next write', async (t) => {
  const { gc, writes, gates } = gated()
  const p1 = gc.submit([1])
  await new Promise((r) => setImmediate(r))
  t.same(writes, [[1]], 'first op written alone')
  const rest = [gc.submit([2]), gc.submit([3, 4]), gc.submit([5])]
  t.equal(gc.pending, 4)
  gates[0]!.resolve()
  await p1
  await new Promise((r) => setImmediate(r))
  t.same(writes, [[1], [2, 3, 4, 5]], 'the waiting ops went in one write')
  gates[1]!.resolve()
  await Promise.all(rest)
})

t.test('delayMs lets ops from separate ticks join one write', async (t) => {
  const writes: number[][] = []
  const gc = createGroupCommit<number>({ delayMs: 20, maxBatch: 1000, write: async (ops) => { writes.push([...ops]) } })
  const a = gc.submit([1])
  await new Promise((r) => setImmediate(r))
  const b = gc.submit([2])
  await Promise.all([a, b])
  t.same(writes, [[1, 2]])
})

t.test('maxBatch writes without waiting out the delay', async (t) => {
  const writes: number[][] = []
  const gc = createGroupCommit<number>({ delayMs: 60_000, maxBatch: 3, write: async (ops) => { writes.push([...ops]) } })
  await Promise.all([gc.submit([1]), gc.submit([2]), gc.submit([3])])
  t.same(writes, [[1, 2, 3]])
})

t.test('a failed write rejects exactly its own callers', async (t) => {
  let n = 0
  const gc = createGroupCommit<number>({
    delayMs: 0,
    maxBatch: 1000,
    write: async () => { if (n++ === 0) throw new Error('disk on fire') },
  })
  const bad = gc.submit([1])
  await t.rejects(bad, /disk on fire/)
  await t.resolves(gc.submit([2]))
})

t.test('drain waits for everything submitted', async (t) => {
  const written: number[] = []
  const gc = createGroupCommit<number>({ delayMs: 5, maxBatch: 1000, write: async (ops) => { written.push(...ops) } })
  void gc.submit([1])
  void gc.submit([2])
  await gc.drain()
  t.same(written, [1, 2])
  t.equal(gc.pending, 0)
})

t.test('submitThen: callbacks in submission order after their write, sharing it with promise callers', async (t) => {
  const { gc, writes, gates } = gated()
  const heard: string[] = []
  gc.submitThen([1], (err) => heard.push(`a ${String(err)}`))
  const viaPromise = gc.submit([2]).then(() => heard.push('promise'))
  gc.submitThen([3, 4], (err) => heard.push(`b ${String(err)}`))
  t.same(heard, [], 'nothing is answered from inside submitThen')
  await new Promise((r) => setImmediate(r))
  t.same(writes, [[1, 2, 3, 4]], 'one write for all three callers')
  t.same(heard, [], 'nothing is answered before the write is done')
  gates[0]!.resolve()
  await viaPromise
  t.same(heard, ['a null', 'b null', 'promise'], 'callbacks in order, then the shared promise')

  gc.submitThen([5], (err) => heard.push(`c ${(err as Error).message}`))
  const failing = gc.submit([6])
  await new Promise((r) => setImmediate(r))
  gates[1]!.reject(new Error('disk gone'))
  await t.rejects(failing, /disk gone/)
  t.same(heard.slice(3), ['c disk gone'], 'a failed write hands its error to its callbacks')
})

t.test('submitThen: a callback that throws does not keep the others of its write from hearing', async (t) => {
  const thrown: unknown[] = []
  const gc = createGroupCommit<number>({ delayMs: 0, maxBatch: 1000, write: async () => undefined, onCallbackError: (err) => thrown.push(err) })
  const heard: number[] = []
  gc.submitThen([1], () => { throw new Error('bug in a caller') })
  gc.submitThen([2], () => heard.push(2))
  await gc.drain()
  t.same(heard, [2], 'the second callback was called')
  t.equal(thrown.length, 1)
  t.match(thrown[0], { message: 'bug in a caller' }, 'the throw is reported, not swallowed')
})

t.test('addThen: one op, in order with submitThen, answered after the write', async (t) => {
  const { gc, writes, gates } = gated()
  const heard: string[] = []
  gc.addThen(1, (err) => heard.push(`a ${String(err)}`))
  gc.submitThen([2, 3], (err) => heard.push(`b ${String(err)}`))
  gc.addThen(4, (err) => heard.push(`c ${String(err)}`))
  t.same(heard, [], 'nothing is answered from inside addThen')
  await new Promise((r) => setImmediate(r))
  t.same(writes, [[1, 2, 3, 4]], 'one write, ops in call order')
  gates[0]!.resolve()
  await gc.drain()
  t.same(heard, ['a null', 'b null', 'c null'])
})
