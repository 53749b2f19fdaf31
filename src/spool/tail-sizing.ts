/**
 * How much of the log's newest part the spool keeps in memory (tail-cache.ts),
 * pure.
 *
 * While the uplink reads, a burst from the devices can run ahead of it by
 * tens of thousands of records (the devices' PUBACKs only wait for the disk;
 * the uplink waits for the cloud). Records still in the tail are forwarded
 * from memory; the ones that fell out are read back from LevelDB and decoded,
 * which in the bench's 10-publisher run was most of them with a 4,096-record
 * tail. So the tail is larger while someone reads. When nobody has read for
 * a while (the uplink is down: an outage), the records wait on disk, and the
 * tail shrinks back, so holding a backlog costs no more memory than before.
 */
export interface TailLimits {
  records: number
  bytes: number
}

/**
 * While the uplink reads. With the devices acknowledged at 60-80k events/s and
 * the uplink delivering 40-48k/s, the bench's 10-publisher burst leaves it up
 * to 53,000 records behind: half of the rounds outran a 32,768-record tail.
 */
export const TAIL_READING: TailLimits = Object.freeze({ records: 65_536, bytes: 32 * 1024 * 1024 })
/** While nobody reads. */
export const TAIL_IDLE: TailLimits = Object.freeze({ records: 4_096, bytes: 4 * 1024 * 1024 })
/** No read for this long: nobody reads. */
export const READER_IDLE_MS = 1_000

export function tailLimits(msSinceLastRead: number): TailLimits {
  return msSinceLastRead <= READER_IDLE_MS ? TAIL_READING : TAIL_IDLE
}
