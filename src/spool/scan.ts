import { parseSeqKey } from './keys.js'
import { decodeRecord } from './record-codec.js'

export interface ScanResult {
  records: number
  firstSeq: number | null
  lastSeq: number | null
  /** Key + value bytes of the readable records (values only when they were read). */
  bytes: number
  gaps: Array<{ from: number; to: number }>
  /** Keys that are not sequence keys, or (full scan) whose value does not decode. */
  unreadableKeys: string[]
}

type Entry = [string, Uint8Array]

/**
 * One pass over the event log. After a clean shutdown only keys are read;
 * after a crash every value is decoded too, so damage is found at start-up
 * rather than when the record's turn comes.
 */
export async function scanEvents(entries: AsyncIterable<Entry | string>, full: boolean): Promise<ScanResult> {
  const res: ScanResult = { records: 0, firstSeq: null, lastSeq: null, bytes: 0, gaps: [], unreadableKeys: [] }
  for await (const item of entries) {
    const key = typeof item === 'string' ? item : item[0]
    const seq = parseSeqKey(key)
    if (seq === null) {
      res.unreadableKeys.push(key)
      continue
    }
    if (full && typeof item !== 'string') {
      try {
        decodeRecord(seq, item[1])
      } catch {
        res.unreadableKeys.push(key)
        continue
      }
    }
    if (res.lastSeq !== null && seq > res.lastSeq + 1) {
      res.gaps.push({ from: res.lastSeq + 1, to: seq - 1 })
    }
    res.bytes += key.length + (typeof item === 'string' ? 0 : item[1].length)
    if (res.firstSeq === null) res.firstSeq = seq
    res.lastSeq = seq
    res.records++
  }
  return res
}
