/**
 * Dead-letter replay: every held event is checked again against the current
 * contracts; those that now pass are appended to the spool in their original
 * order (the uplink then forwards them) and removed from the store. Those
 * that still fail stay, with their original reason.
 *
 * Appends are synced before the removal, so a crash in between can only
 * store an event twice (delivery is at-least-once anyway), never lose it.
 */
import type { EventInput, SpoolWriter } from '../spool/types.js'
import type { Checker } from './checker.js'
import type { DeadLetter, DeadLetterStore } from './dead-letter.js'
import type { UnknownTopicPolicy, Verdict } from './types.js'

export interface ReplayResult {
  replayed: number
  stillInvalid: Array<{ entry: DeadLetter; verdict: Verdict }>
}

const PAGE = 1000

export async function replayDeadLetters(opts: {
  store: DeadLetterStore
  checker: Checker
  spool: SpoolWriter
  unknownTopics: UnknownTopicPolicy
  /** Replay only these entries (default: all). */
  only?: ReadonlySet<number>
}): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: 0, stillInvalid: [] }
  let after = -1
  for (;;) {
    const page = await opts.store.list({ after, limit: PAGE })
    if (page.length === 0) break
    after = page[page.length - 1]!.seq
    const appends: Array<Promise<unknown>> = []
    const moved: number[] = []
    for (const entry of page) {
      if (opts.only && !opts.only.has(entry.seq)) continue
      const verdict = opts.checker.check(entry.clientId, entry.topic, entry.payload)
      const base: EventInput = {
        clientId: entry.clientId, topic: entry.topic, payload: entry.payload, qos: entry.qos, retain: entry.retain,
        meta: { 'dead-lettered-at': new Date(entry.at).toISOString() },
      }
      if (verdict.kind === 'valid') {
        base.meta = { ...verdict.meta, ...base.meta }
        if (verdict.upstreamTopic !== undefined) base.upstreamTopic = verdict.upstreamTopic
      } else if (!(verdict.kind === 'unknown' && opts.unknownTopics === 'forward')) {
        result.stillInvalid.push({ entry, verdict })
        continue
      }
      // Sequence numbers are taken at call time: call order is spool order.
      appends.push(opts.spool.append(base))
      moved.push(entry.seq)
    }
    await Promise.all(appends)
    await opts.store.remove(moved)
    result.replayed += moved.length
  }
  return result
}
