/**
 * When the spool compacts its acknowledged head (`spool.compactEveryAcks`).
 * Pure: the spool passes its counters in.
 *
 * Acknowledged records are deleted one by one; LevelDB gives their disk space
 * back only when a compaction drops them, and that compaction reads the
 * deleted records back. While the uplink drains a backlog, that work competes
 * with the drain for the CPU and the disk, and buys nothing the drain needs:
 * reads start at the uplink's cursor, past every deleted key, and the disk
 * held by the deleted records was held by the backlog before. So the
 * compaction due every `every` acks waits while more than a tenth of an
 * interval is still unread, and runs once the uplink has (nearly) caught up.
 * It waits at most `MAX_DEFERRED_INTERVALS` intervals, so a backlog that never
 * drains (a link slower than the devices) still gets its disk space back.
 * A spool short of disk does not ask here: it compacts at every disk check.
 */
export const MAX_DEFERRED_INTERVALS = 10

export interface HeadCompactionInput {
  /** Acks since the last head compaction. */
  acksSinceCompact: number
  /** spool.compactEveryAcks; 0 or less = never. */
  every: number
  /** Committed records the uplink has not read yet. */
  unread: number
}

export function headCompactionDue(s: HeadCompactionInput): boolean {
  if (s.every <= 0 || s.acksSinceCompact < s.every) return false
  return s.unread <= s.every / 10 || s.acksSinceCompact >= s.every * MAX_DEFERRED_INTERVALS
}
