import type { EventInput, RejectedEvent, SpoolReader, SpoolStats, StoredEvent } from '../../src/spool/types.js'

/**
 * An in-memory SpoolReader for uplink tests, with `append` to feed it.
 * Reads resolve on a later turn of the event loop, like a real store.
 */
export interface MemorySpool extends SpoolReader {
  append(input?: Partial<EventInput>): StoredEvent
  /** Records not yet acked or rejected, oldest first. */
  pendingEvents(): StoredEvent[]
  /** Every ack call, in call order (including acks of unknown seqs); ackMany's records count one by one. */
  acks: number[]
  /** Number of ackMany calls. */
  ackManyCalls: number
  rejected: RejectedEvent[]
  /** Every noteAttempt call, in call order. */
  attemptsNoted: number[]
  /** Number of readAfter calls. */
  reads: number
  /** Make the next readAfter calls fail with this error (null to stop). */
  failReads: Error | null
}

export function createMemorySpool(opts: { gatewayId?: string; epoch?: number } = {}): MemorySpool {
  const gatewayId = opts.gatewayId ?? 'gw'
  const epoch = opts.epoch ?? 1
  const records = new Map<number, StoredEvent>()
  const listeners = new Set<() => void>()
  let nextSeq = 0
  let appended = 0
  let acked = 0

  const spool: MemorySpool = {
    acks: [],
    ackManyCalls: 0,
    rejected: [],
    attemptsNoted: [],
    reads: 0,
    failReads: null,

    append(input = {}) {
      const seq = nextSeq++
      const event: StoredEvent = {
        clientId: input.clientId ?? 'dev-1',
        topic: input.topic ?? 'sensors/t',
        payload: input.payload ?? Buffer.from(`payload-${seq}`),
        qos: input.qos ?? 1,
        retain: input.retain ?? false,
        seq,
        id: `${gatewayId}-${epoch}-${seq}`,
        acceptedAt: Date.now(),
      }
      records.set(seq, event)
      appended++
      for (const listener of listeners) listener()
      return event
    },

    pendingEvents: () => [...records.values()],

    async readAfter(afterSeq, limit) {
      spool.reads++
      await new Promise((resolve) => setImmediate(resolve))
      if (spool.failReads !== null) throw spool.failReads
      const out: StoredEvent[] = []
      for (const [seq, event] of records) {
        if (out.length >= limit) break
        if (seq > afterSeq) out.push(event)
      }
      return out
    },

    ack(seq) {
      spool.acks.push(seq)
      if (records.delete(seq)) acked++
    },

    ackMany(batch) {
      spool.ackManyCalls++
      for (const { seq } of batch) spool.ack(seq)
    },

    async noteAttempt(seq) {
      spool.attemptsNoted.push(seq)
      const event = records.get(seq)
      if (event !== undefined) records.set(seq, { ...event, attempts: (event.attempts ?? 0) + 1 })
    },

    async reject(event, reason, reasonCode) {
      records.delete(event.seq)
      const entry: RejectedEvent = { event, reason, rejectedAt: Date.now() }
      if (reasonCode !== undefined) entry.reasonCode = reasonCode
      spool.rejected.push(entry)
    },

    onAppend(listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },

    stats(): SpoolStats {
      const first = records.keys().next()
      return {
        pending: records.size,
        headSeq: first.done === true ? null : first.value,
        nextSeq,
        appended,
        acked,
        rejected: spool.rejected.length,
      }
    },
  }
  return spool
}
