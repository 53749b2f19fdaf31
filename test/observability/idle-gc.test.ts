import t from 'tap'
import { afterGc, idleGcStep, initialIdleGcState, type IdleGcAction } from '../../src/observability/idle-gc.js'

const OPTS = { minGrowthBytes: 100, settleTicks: 4 }
const MB = 1_000_000

/** Runs ticks of (activity, heapUsed); a collection leaves `left` bytes used. */
function run(ticks: Array<[number, number]>, left = 50): IdleGcAction[] {
  const state = initialIdleGcState()
  return ticks.map(([activity, heapUsed]) => {
    const action = idleGcStep(state, { activity, heapUsed }, OPTS)
    if (action !== 'none') afterGc(state, left)
    return action
  })
}

t.test('collects on the first quiet tick after work, then settles once', async (t) => {
  t.same(run([[1, MB], [2, MB], [3, MB], [3, MB], [3, MB], [3, MB], [3, MB], [3, MB], [3, MB]]),
    ['none', 'none', 'none', 'collect', 'none', 'none', 'settle', 'none', 'none'])
})

t.test('nothing while events keep moving', async (t) => {
  t.same(run([[1, MB], [2, MB], [3, MB], [4, MB], [5, MB]]), ['none', 'none', 'none', 'none', 'none'])
})

t.test('a heap that barely grew is not worth a collection', async (t) => {
  const state = initialIdleGcState()
  afterGc(state, 1000)
  const actions = [[1, 1050], [1, 1050], [1, 1050], [1, 1050], [1, 1050], [1, 1050]].map(([a, h]) => idleGcStep(state, { activity: a!, heapUsed: h! }, OPTS))
  t.same(actions, ['none', 'none', 'none', 'none', 'none', 'none'])
})

t.test('activity during the settle wait restarts the cycle', async (t) => {
  t.same(run([[1, MB], [1, MB], [1, MB], [2, MB], [2, MB], [2, MB], [2, MB], [2, MB]]),
    ['none', 'collect', 'none', 'none', 'collect', 'none', 'none', 'settle'])
})

t.test('growth is measured from what the last collection left', async (t) => {
  // After collecting down to 50, 120 used is 70 more: under the threshold.
  t.same(run([[1, MB], [1, MB], [2, 120], [2, 120], [3, 200], [3, 200]]),
    ['none', 'collect', 'none', 'none', 'none', 'collect'])
})
