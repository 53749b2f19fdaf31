import t from 'tap'
import { headCompactionDue, isBacklog, MAX_DEFERRED_INTERVALS, MIN_DEFERRED_MS } from '../../src/spool/compaction-policy.js'

t.test('a backlog is more than a tenth of an interval unread', async (t) => {
  t.equal(isBacklog(5_000, 50_000), false)
  t.equal(isBacklog(5_001, 50_000), true)
})

t.test('after a backlog, an interval of acks with the uplink caught up: due', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 0, backlogSeen: true, deferredMs: 0 }), true)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_000, backlogSeen: true, deferredMs: 0 }), true, 'a tenth of an interval unread still counts as caught up')
  t.equal(headCompactionDue({ acksSinceCompact: 49_999, every: 50_000, unread: 0, backlogSeen: true, deferredMs: 0 }), false, 'not before an interval')
})

t.test('no backlog since the last compaction: never (LevelDB\'s own compactions drop records and deletes)', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 0, backlogSeen: false, deferredMs: 0 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS * 10, every: 50_000, unread: 0, backlogSeen: false, deferredMs: 0 }), false)
})

t.test('while a backlog drains: waits, at most MAX_DEFERRED_INTERVALS intervals and MIN_DEFERRED_MS', async (t) => {
  const long = MIN_DEFERRED_MS
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_001, backlogSeen: true, deferredMs: long }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 400_000, every: 50_000, unread: 600_000, backlogSeen: true, deferredMs: long }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS - 1, every: 50_000, unread: 600_000, backlogSeen: true, deferredMs: long }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS, every: 50_000, unread: 600_000, backlogSeen: true, deferredMs: long }), true, 'a backlog that never drains still gets its space back')
})

t.test('a drain that passes MAX_DEFERRED_INTERVALS intervals within MIN_DEFERRED_MS is not interrupted', async (t) => {
  const acks = 50_000 * MAX_DEFERRED_INTERVALS * 4
  t.equal(headCompactionDue({ acksSinceCompact: acks, every: 50_000, unread: 600_000, backlogSeen: true, deferredMs: MIN_DEFERRED_MS - 1 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: acks, every: 50_000, unread: 600_000, backlogSeen: true, deferredMs: MIN_DEFERRED_MS }), true, 'until it has waited MIN_DEFERRED_MS')
  t.equal(headCompactionDue({ acksSinceCompact: acks, every: 50_000, unread: 5_000, backlogSeen: true, deferredMs: 1 }), true, 'caught up: at once')
})

t.test('compactEveryAcks 0 (or less): never', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: 0, unread: 0, backlogSeen: true, deferredMs: 0 }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: -1, unread: 0, backlogSeen: true, deferredMs: 0 }), false)
})
