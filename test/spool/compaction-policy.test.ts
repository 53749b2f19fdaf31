import t from 'tap'
import { headCompactionDue, MAX_DEFERRED_INTERVALS } from '../../src/spool/compaction-policy.js'

t.test('an interval of acks with the uplink caught up: due', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 0 }), true)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_000 }), true, 'a tenth of an interval unread still counts as caught up')
  t.equal(headCompactionDue({ acksSinceCompact: 49_999, every: 50_000, unread: 0 }), false, 'not before an interval')
})

t.test('while a backlog drains: waits, at most MAX_DEFERRED_INTERVALS intervals', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_001 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 400_000, every: 50_000, unread: 600_000 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS - 1, every: 50_000, unread: 600_000 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS, every: 50_000, unread: 600_000 }), true, 'a backlog that never drains still gets its space back')
})

t.test('compactEveryAcks 0 (or less): never', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: 0, unread: 0 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: -1, unread: 0 }), false)
})
