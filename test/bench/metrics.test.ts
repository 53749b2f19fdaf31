import t from 'tap'
import { batchedDrainVerdict } from '../../bench/harness/metrics.js'

t.test('batched drain target: batched >= 5x plain, with the factor', async (t) => {
  t.equal(batchedDrainVerdict({ outpost: 50_000, batched: 250_000 }), '**met** (5.00x)')
  t.equal(batchedDrainVerdict({ outpost: 50_000, batched: 249_999 }), '**not met** (5.00x)')
  t.equal(batchedDrainVerdict({ outpost: 50_000 }), 'not measured')
})
