import t from 'tap'
import { planDeletes, storedRanges } from '../../src/spool/delete-plan.js'
import { seededRandom } from '../helpers/fault-results.js'

const run = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i)

t.test('a run of consecutive seqs becomes one range; short runs and stragglers go key by key', async (t) => {
  const seqs = [...run(10, 100), 200, 201, 205]
  t.same(planDeletes(seqs, 64), { keys: [200, 201, 205], ranges: [[10, 110]] })
  t.same(planDeletes(seqs, 2), { keys: [205], ranges: [[10, 110], [200, 202]] })
  t.same(planDeletes(run(0, 63), 64), { keys: run(0, 63), ranges: [] }, 'one short of the minimum: key by key')
  t.same(planDeletes(run(0, 64), 64), { keys: [], ranges: [[0, 64]] }, 'exactly the minimum: a range')
  t.same(planDeletes([], 64), { keys: [], ranges: [] })
})

t.test('acks out of order and a seq queued twice still make one range, never a wider one', async (t) => {
  const seqs = run(0, 100).reverse()
  seqs.splice(50, 0, 7, 7, 99)
  t.same(planDeletes(seqs, 64), { keys: [], ranges: [[0, 100]] })
  const holed = run(0, 100).filter((s) => s !== 64)
  t.same(planDeletes(holed, 64), { keys: run(65, 35), ranges: [[0, 64]] }, 'a missing seq ends the run: it is not covered')
})

t.test('random seq sets: every seq given is deleted once, and nothing that was not given', async (t) => {
  const random = seededRandom(42)
  for (let round = 0; round < 200; round++) {
    const given = new Set<number>()
    const n = Math.floor(random() * 600)
    let at = Math.floor(random() * 1000)
    for (let i = 0; i < n; i++) {
      // Mostly consecutive, with holes and jumps back, as acks over a window of batches give.
      const r = random()
      at = r < 0.8 ? at + 1 : r < 0.9 ? at + 2 + Math.floor(random() * 5) : Math.max(0, at - Math.floor(random() * 50))
      given.add(at)
    }
    const list = [...given]
    if (list.length > 0) list.push(list[Math.floor(random() * list.length)]!) // a duplicate
    const minRun = 1 + Math.floor(random() * 100)
    const plan = planDeletes(list, minRun)
    const covered: number[] = [...plan.keys]
    for (const [from, to] of plan.ranges) {
      if (to - from < minRun) t.fail(`range [${from}, ${to}) is shorter than ${minRun}`)
      for (let s = from; s < to; s++) covered.push(s)
    }
    covered.sort((a, b) => a - b)
    const expected = [...given].sort((a, b) => a - b)
    if (JSON.stringify(covered) !== JSON.stringify(expected)) {
      t.fail(`round ${round}: the plan covers other seqs than given`)
      return
    }
  }
  t.pass('200 random sets covered exactly')
})

t.test('stored ranges are read back only when well formed', async (t) => {
  t.same(storedRanges([[0, 10], [20, 30]]), [[0, 10], [20, 30]])
  t.same(storedRanges(undefined), [])
  t.same(storedRanges('x'), [])
  t.same(storedRanges([[0, 10], [5]]), [], 'a malformed pair: nothing is trusted')
  t.same(storedRanges([[10, 10]]), [], 'an empty range')
  t.same(storedRanges([[-1, 3]]), [])
  t.same(storedRanges([[0, 1.5]]), [])
})
