import type { Logger } from 'pino'
import { asError, ErrorCodes, isOutpostError, OutpostError } from '../errors.js'
import type { ContractGate, Verdict } from '../contracts/types.js'
import type { DedupHint, EventInput, SpoolWriter } from '../spool/types.js'
import { createHoldQueue, type HoldStats } from './hold-queue.js'

/** The parts of an aedes PUBLISH packet the ingest path reads. */
export interface IncomingPublish {
  topic: string
  payload: Buffer | string
  qos: 0 | 1 | 2
  retain: boolean
  dup?: boolean
  messageId?: number
  /** Set on will messages aedes publishes for a client of a previous run. */
  clientId?: string
}

export interface IngestOptions {
  spool: SpoolWriter
  forwards: (topic: string) => boolean
  maxPayloadBytes: number
  storeQos0: boolean
  log: Logger
  /** Device contracts: when set, every forwarded event is checked first (src/contracts/). */
  contracts?: ContractGate
  /** Longest a QoS >= 1 publish is held without PUBACK while the spool is full; 0 = refuse at once. */
  holdMs?: number
  /** Most publishes held at once; beyond it they are refused at once. */
  maxHeld?: number
}

export interface IngestStats {
  stored: number
  duplicates: number
  qos0Stored: number
  notForwarded: number
  refused: number
  writeErrors: number
  /** QoS 0 events not stored because the spool was full or could not write (QoS 0 has no PUBACK to hold). */
  /** Events that broke their contract (or came on an unknown topic) and went to the dead-letter store. */
  deadLettered: number
  /** Events on topics no contract knows, forwarded without contract metadata. */
  unknownForwarded: number
  qos0Dropped: number
  hold: HoldStats
}

export type AuthorizePublish = (client: { id: string } | null, packet: IncomingPublish, done: (err?: Error | null) => void) => void

/**
 * aedes' authorizePublish hook, where the promise is kept: aedes sends the
 * PUBACK (or PUBREC) only when `done` is called, so a QoS >= 1 event on a
 * forwarded topic calls back only after its batch is fsync'd. The hook runs in
 * arrival order, so the spool's sequence numbers are arrival order too.
 * A failed write calls back with an error: aedes closes the connection without
 * an acknowledgement and the device re-sends after reconnecting. While the
 * spool is full or cannot write, publishes are first held (hold-queue.ts).
 */
export function createIngest(opts: IngestOptions): { authorizePublish: AuthorizePublish; stats: IngestStats; close(): void } {
  const { spool, forwards, log } = opts
  interface Pending { input: EventInput; hint: DedupHint | undefined; done: (err?: Error | null) => void; duplicate: boolean }
  const isFull = (err: unknown): boolean => isOutpostError(err, ErrorCodes.SPOOL_FULL) || isOutpostError(err, ErrorCodes.SPOOL_UNAVAILABLE)
  const holdQueue = createHoldQueue<Pending>({
    holdMs: opts.holdMs ?? 0,
    maxHeld: opts.maxHeld ?? 1000,
    attempt: spool.appendThen === undefined
      ? (p, stored) => {
        spool.append(p.input, p.hint).then((res) => { p.duplicate = res.duplicate; stored(null) }, (err: unknown) => stored(err ?? new Error('append failed')))
      }
      : (p, stored) => {
        spool.appendThen!(p.input, p.hint, (err, _seq, _id, duplicate) => {
          p.duplicate = duplicate
          stored(err)
        })
      },
    retriable: isFull,
    onWritable: spool.onWritable ? (l) => spool.onWritable!(l) : undefined,
    ...(spool.writable ? { canAttempt: () => spool.writable!() } : {}),
    settle: (p, err) => {
      if (err === null) {
        if (p.duplicate) stats.duplicates++
        else stats.stored++
        p.done(null)
        return
      }
      stats.writeErrors++
      if (isFull(err)) {
        log.warn({ clientId: p.input.clientId, topic: p.input.topic, code: (err as OutpostError).code, err: err.message },
          'spool full or not writable: publish not acknowledged, closing the device connection; it re-sends after reconnecting')
      } else {
        log.error({ err, clientId: p.input.clientId, topic: p.input.topic }, 'could not store event; not acknowledged, the device will re-send it')
      }
      p.done(err)
    },
  })
  const stats: IngestStats = { stored: 0, duplicates: 0, qos0Stored: 0, notForwarded: 0, refused: 0, writeErrors: 0, deadLettered: 0, unknownForwarded: 0, qos0Dropped: 0, hold: holdQueue.stats }
  const warned = new Set<string>()
  let qos0DropLoggedAt = Number.NEGATIVE_INFINITY

  const authorizePublish: AuthorizePublish = (client, packet, done) => {
    // Replacing aedes' default hook drops its $SYS guard: keep it.
    if (packet.topic.startsWith('$SYS')) {
      stats.refused++
      done(new OutpostError(ErrorCodes.BROKER_SYS_TOPIC, '$SYS topics are reserved for the broker'))
      return
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const clientId = client?.id ?? packet.clientId ?? ''
    if (payload.length > opts.maxPayloadBytes) {
      stats.refused++
      log.warn({ clientId, topic: packet.topic, bytes: payload.length, max: opts.maxPayloadBytes, code: ErrorCodes.BROKER_PAYLOAD_TOO_LARGE },
        'payload larger than broker.maxPayloadBytes refused; the device is disconnected without an acknowledgement')
      done(new OutpostError(ErrorCodes.BROKER_PAYLOAD_TOO_LARGE, `payload of ${payload.length} bytes exceeds ${opts.maxPayloadBytes}`))
      return
    }
    if (!forwards(packet.topic)) {
      stats.notForwarded++
      done(null)
      return
    }
    const input: EventInput = { clientId, topic: packet.topic, payload, qos: packet.qos, retain: packet.retain }
    const gate = opts.contracts
    if (gate !== undefined) {
      const verdict = gate.check(clientId, packet.topic, payload)
      if (verdict.kind === 'valid') {
        input.meta = verdict.meta
        if (verdict.upstreamTopic !== undefined) input.upstreamTopic = verdict.upstreamTopic
      } else if (verdict.kind === 'unknown' && gate.unknownTopics === 'forward') {
        stats.unknownForwarded++
      } else if (verdict.kind === 'unknown' && gate.unknownTopics === 'refuse') {
        stats.refused++
        log.warn({ clientId, topic: packet.topic, code: ErrorCodes.CONTRACT_UNKNOWN_TOPIC },
          'topic known to no device contract refused (contracts.unknownTopics: refuse); the device is disconnected without an acknowledgement')
        done(new OutpostError(ErrorCodes.CONTRACT_UNKNOWN_TOPIC, `no device contract knows topic "${packet.topic}"`))
        return
      } else {
        deadLetter(gate, verdict.kind === 'invalid' ? verdict : { kind: 'invalid', reason: 'unknown-topic', errors: [`no device contract knows topic "${packet.topic}"`] },
          input, done)
        return
      }
    }
    if (packet.qos === 0) {
      // Nothing to hold back for QoS 0: store it, deliver locally at once.
      done(null)
      if (!opts.storeQos0) return
      spool.append(input).then(() => { stats.qos0Stored++ }, (err: unknown) => {
        stats.writeErrors++
        stats.qos0Dropped++
        // Counted always; logged at most every 10 s, since a full spool refuses every one.
        if (Date.now() - qos0DropLoggedAt < 10_000) return
        qos0DropLoggedAt = Date.now()
        log.error({ err, clientId, topic: packet.topic, qos0Dropped: stats.qos0Dropped }, 'could not store a QoS 0 event; it is lost (counted in qos0Dropped)')
      })
      return
    }
    const hint = packet.messageId === undefined ? undefined : { messageId: packet.messageId, retransmit: packet.dup === true }
    holdQueue.submit(clientId, { input, hint, done, duplicate: false })
  }
  /**
   * An event that broke its contract never goes upstream; it is kept in the
   * dead-letter store and the device is acknowledged once it is on disk, so
   * it does not re-send the same bad payload forever (docs/contracts.md).
   */
  function deadLetter(gate: ContractGate, verdict: Extract<Verdict, { kind: 'invalid' }>, input: EventInput, done: (err?: Error | null) => void): void {
    const entry = {
      clientId: input.clientId, topic: input.topic, payload: input.payload, qos: input.qos, retain: input.retain,
      reason: verdict.reason, errors: verdict.errors,
      ...(verdict.deviceType === undefined ? {} : { deviceType: verdict.deviceType, contractVersion: verdict.contractVersion ?? '' }),
    }
    // Warn once per device (a broken firmware shows at once), then debug: a
    // misbehaving fleet must not flood the log. The count is in the status log.
    const first = !warned.has(input.clientId)
    if (first && warned.size < 10_000) warned.add(input.clientId)
    log[first ? 'warn' : 'debug']({ clientId: input.clientId, topic: input.topic, reason: verdict.reason, errors: verdict.errors.slice(0, 3), deviceType: verdict.deviceType },
      'event broke its device contract; kept in the dead-letter store, not forwarded')
    if (input.qos === 0) done(null)
    gate.deadLetter(entry).then(() => {
      stats.deadLettered++
      if (input.qos !== 0) done(null)
    }, (err: unknown) => {
      stats.writeErrors++
      log.error({ err, clientId: input.clientId, topic: input.topic }, 'could not store a dead letter; not acknowledged, the device will re-send it')
      if (input.qos !== 0) done(asError(err))
    })
  }

  return {
    authorizePublish,
    stats,
    close: () => holdQueue.refuseAll(new OutpostError(ErrorCodes.SPOOL_CLOSED, 'gateway is shutting down')),
  }
}
