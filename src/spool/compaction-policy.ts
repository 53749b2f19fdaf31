/**
 * When the spool compacts its acknowledged head (`spool.compactEveryAcks`).
 * Pure: the spool passes its counters in.
 *
 * Acknowledged records are deleted one by one; LevelDB gives their disk space
 * back when a compaction merges the deletes with the records.
 *
 * - **No backlog, no explicit compaction.** While the uplink keeps up, a record
 *   and its delete are written within moments of each other and LevelDB's own
 *   compactions drop both. An explicit one every interval only added work,
 *   and delayed the events in flight by tens of milliseconds
 *   (docs/architecture.md, "Head and compaction").
 * - **After a backlog, once.** The records of a backlog sink into LevelDB's
 *   deeper levels while they wait, where the deletes reach them late: an
 *   explicit compaction gives that space back. It does not run while the
 *   backlog drains: in the middle of a backlog it rewrites the table files
 *   that hold deleted and live records alike and competes with the drain for
 *   the CPU and the disk, while the drain's reads start at the cursor and
 *   never visit the deleted keys, and the space was held by the backlog
 *   before. So it waits until the uplink has (nearly) caught up, at most
 *   `MAX_DEFERRED_INTERVALS` intervals and `MIN_DEFERRED_MS`, so that a
 *   backlog that never drains (a link slower than the devices) still gets
 *   its space back. Both, not either: a fast drain passes ten intervals in
 *   seconds (1M events at 250k/s), and a compaction forced in its middle
 *   merges level-1 files of live records with deletes that keep coming: for a
 *   1M drain LevelDB's compactions wrote 62-64 MB with it, 35-37 MB without
 *   (bench/spool-drain.ts, two rounds each).
 *
 * A backlog is more than a tenth of an interval committed and not yet read.
 * A spool short of disk does not ask here: it compacts at every disk check.
 */
export const MAX_DEFERRED_INTERVALS = 10
/** ...and at least this long since it came due. */
export const MIN_DEFERRED_MS = 60_000

export interface HeadCompactionInput {
  /** Acks since the last head compaction. */
  acksSinceCompact: number
  /** spool.compactEveryAcks; 0 or less = never. */
  every: number
  /** Committed records the uplink has not read yet. */
  unread: number
  /** A backlog was seen (isBacklog) since the last head compaction, or was on disk at open. */
  backlogSeen: boolean
  /** How long it has been due by its count of acks while a backlog made it wait, ms (0: not due yet). */
  deferredMs: number
}

export function isBacklog(unread: number, every: number): boolean {
  return unread > every / 10
}

export function headCompactionDue(s: HeadCompactionInput): boolean {
  if (s.every <= 0 || s.acksSinceCompact < s.every || !s.backlogSeen) return false
  if (!isBacklog(s.unread, s.every)) return true
  return s.acksSinceCompact >= s.every * MAX_DEFERRED_INTERVALS && s.deferredMs >= MIN_DEFERRED_MS
}
