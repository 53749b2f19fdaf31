import { parseSeqKey } from './keys.js'
import { decodeRecord } from './record-codec.js'
import { scanEvents } from './scan.js'
import type { SpoolSublevel } from './open-db.js'

/** Counters the spool keeps in its metadata, written with every batch. */
export interface StoredCounters {
  pending: number
  bytes: number
}

export interface OpenCheck {
  check: 'none' | 'tail' | 'full'
  records: number
  bytes: number
  firstSeq: number | null
  lastSeq: number | null
  gaps: Array<{ from: number; to: number }>
  unreadableKeys: string[]
  /** Records whose values were decoded. */
  checked: number
}

/**
 * After a crash, the records that can be damaged are the ones LevelDB held in
 * its write-ahead log and memtables (4 MiB each by default): older ones sit in
 * checksummed table files. The tail check decodes the newest records back to
 * this many value bytes (twice the log's size), or this many records.
 */
export const TAIL_CHECK_BYTES = 8 * 1024 * 1024
export const TAIL_CHECK_RECORDS = 65_536

async function edgeSeq(events: SpoolSublevel, reverse: boolean): Promise<number | null> {
  for await (const key of events.keys({ reverse, limit: 1 })) return parseSeqKey(key)
  return null
}

/**
 * What open reads of the event log, by case:
 * - clean shutdown with stored counters: no scan; two seeks for the first and
 *   last key. Open time and memory do not grow with the backlog.
 * - crash with stored counters: the counters, plus a decode of the newest
 *   records (bounded, see TAIL_CHECK_BYTES); gaps and unreadable records are
 *   found there, older damage when its records are read.
 * - no counters (a store from before they existed, lost metadata) or after a
 *   repair: every record, values decoded.
 */
export async function checkEvents(events: SpoolSublevel, opts: { cleanShutdown: boolean; counters: StoredCounters | null; full: boolean }): Promise<OpenCheck> {
  if (opts.full || opts.counters === null) {
    const scan = await scanEvents(events.iterator(), true)
    return { check: 'full', records: scan.records, bytes: scan.bytes, firstSeq: scan.firstSeq, lastSeq: scan.lastSeq,
      gaps: scan.gaps, unreadableKeys: scan.unreadableKeys, checked: scan.records + scan.unreadableKeys.length }
  }
  const firstSeq = await edgeSeq(events, false)
  const lastSeq = await edgeSeq(events, true)
  if (firstSeq === null || lastSeq === null) {
    return { check: opts.cleanShutdown ? 'none' : 'tail', records: 0, bytes: 0, firstSeq: null, lastSeq: null, gaps: [], unreadableKeys: [], checked: 0 }
  }
  const res: OpenCheck = {
    check: 'none', records: Math.max(1, opts.counters.pending), bytes: Math.max(0, opts.counters.bytes),
    firstSeq, lastSeq, gaps: [], unreadableKeys: [], checked: 0,
  }
  if (opts.cleanShutdown) return res
  res.check = 'tail'
  let seen = 0
  let above: number | null = null
  for await (const [key, raw] of events.iterator({ reverse: true, limit: TAIL_CHECK_RECORDS })) {
    const seq = parseSeqKey(key)
    let ok = seq !== null
    if (seq !== null) {
      try {
        decodeRecord(seq, raw)
      } catch {
        ok = false
      }
    }
    res.checked++
    if (!ok) {
      res.unreadableKeys.push(key)
      res.records = Math.max(0, res.records - 1)
      res.bytes = Math.max(0, res.bytes - key.length - raw.length)
      continue
    }
    if (above !== null && seq! < above - 1) res.gaps.unshift({ from: seq! + 1, to: above - 1 })
    above = seq!
    seen += raw.length
    if (seen >= TAIL_CHECK_BYTES) break
  }
  return res
}
