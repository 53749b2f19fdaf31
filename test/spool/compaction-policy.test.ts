import t from 'tap'
import { headCompactionDue, isBacklog, MAX_DEFERRED_INTERVALS } from '../../src/spool/compaction-policy.js'

t.test('a backlog is more than a tenth of an interval unread', async (t) => {
  t.equal(isBacklog(5_000, 50_000), false)
  t.equal(isBacklog(5_001, 50_000), true)
})

t.test('after a backlog, an interval of acks with the uplink caught up: due', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 0, backlogSeen: true }), true)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_000, backlogSeen: true }), true, 'a tenth of an interval unread still counts as caught up')
  t.equal(headCompactionDue({ acksSinceCompact: 49_999, every: 50_000, unread: 0, backlogSeen: true }), false, 'not before an interval')
})

t.test('no backlog since the last compaction: never (LevelDB\'s own compactions drop records and deletes)', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 0, backlogSeen: false }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS * 10, every: 50_000, unread: 0, backlogSeen: false }), false)
})

t.test('while a backlog drains: waits, at most MAX_DEFERRED_INTERVALS intervals', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 50_000, every: 50_000, unread: 5_001, backlogSeen: true }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 400_000, every: 50_000, unread: 600_000, backlogSeen: true }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS - 1, every: 50_000, unread: 600_000, backlogSeen: true }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 50_000 * MAX_DEFERRED_INTERVALS, every: 50_000, unread: 600_000, backlogSeen: true }), true, 'a backlog that never drains still gets its space back')
})

t.test('compactEveryAcks 0 (or less): never', async (t) => {
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: 0, unread: 0, backlogSeen: true }), false)
  t.equal(headCompactionDue({ acksSinceCompact: 10_000_000, every: -1, unread: 0, backlogSeen: true }), false)
})
