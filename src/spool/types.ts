/**
 * The spool's contract: what broker/ writes and uplink/ reads. broker/ and
 * uplink/ never import each other; they meet here.
 */

/** What the device side hands to the spool. */
export interface EventInput {
  /** MQTT client id of the publishing device. */
  clientId: string
  /** Device topic as published. */
  topic: string
  payload: Uint8Array
  qos: 0 | 1 | 2
  retain: boolean
  /**
   * Extra string metadata stored and forwarded with the event (device type,
   * contract version, message name, correlation id...). Upstream each entry
   * travels as user property `outpost-<key>` (MQTT 5) and in the envelope's
   * `meta` object. Keys: lower-case letters, digits and '-'.
   */
  meta?: Readonly<Record<string, string>>
  /**
   * The upstream topic chosen at ingest (a device contract's topic mapping).
   * When absent the uplink derives it from `upstream.topicTemplate`.
   */
  upstreamTopic?: string
}

/** One durable event record. */
export interface StoredEvent extends EventInput {
  /** Position in the log: monotonic, never reused, also across restarts. */
  seq: number
  /** Stable event id, `<gatewayId>-<epoch>-<seq>`, used upstream for dedup. */
  id: string
  /** Milliseconds since the Unix epoch when the gateway accepted the event. */
  acceptedAt: number
  /** How many times the upstream refused it with an error reason code. */
  attempts?: number
  /** Set on records read with `raw` (ReadOptions): their stored bytes. Never stored. */
  readonly record?: StoredRecordBytes
}

/**
 * The stored CBOR of a record, for batched mode to copy its items into a batch instead of
 * encoding them again: `bytes[2, textEnd)` are the id, clientId and topic text items,
 * `bytes[payloadAt, payloadEnd)` the payload byte string item, `bytes[metaAt, metaEnd)` the
 * metadata map (metaAt -1: no metadata). Every item is in the form a batch writes it in
 * (docs/batch-format.md): shortest heads, the map with a two-byte length.
 */
export interface StoredRecordBytes {
  readonly bytes: Uint8Array
  readonly textEnd: number
  readonly payloadAt: number
  readonly payloadEnd: number
  readonly metaAt: number
  readonly metaEnd: number
}

export interface ReadOptions {
  /**
   * Records from the store come with `record` set and their text fields decoded only when read
   * (batched mode copies the bytes). Records in another form, and those served from memory, come
   * as usual.
   */
  raw?: boolean
}

/** An event the uplink set aside instead of delivering, with the reason. */
export interface RejectedEvent {
  event: StoredEvent
  reason: string
  /** MQTT 5 reason code from the upstream PUBACK, when there was one. */
  reasonCode?: number
  rejectedAt: number
}

export interface SpoolStats {
  /** Records stored and not yet acknowledged upstream. */
  pending: number
  /** Sequence number of the oldest pending record, or null when empty. */
  headSeq: number | null
  /** Next sequence number to be assigned. */
  nextSeq: number
  appended: number
  acked: number
  rejected: number
  /** Logical bytes of pending records (keys + values), kept without scanning; see docs/architecture.md. */
  bytes?: number
  /** Events discarded by `spool.onFull: drop-oldest`. */
  dropped?: number
  /** Events discarded by `spool.maxAgeSec`. */
  expired?: number
  /** Appends refused because a limit was reached or the store could not write. */
  refusedFull?: number
  /** 'ok', or why new events are not taken: a limit ('max-bytes', 'min-free') or a failed write ('unavailable'). */
  intake?: 'ok' | 'max-bytes' | 'min-free' | 'unavailable'
  /** Free bytes on the data directory's filesystem at the last check. */
  freeBytes?: number | null
  /** Newest records also kept in memory for the uplink (spool/tail-sizing.ts). */
  tailRecords?: number
}

/** What `open` found while checking the store. */
export interface SpoolCheckReport {
  records: number
  /** Ranges of sequence numbers missing in the middle of the log (inclusive). */
  gaps: Array<{ from: number; to: number }>
  /** Keys whose value could not be decoded; moved aside, not deleted. */
  unreadable: number
  epoch: number
  /** False when the previous run did not close the spool (crash, kill -9, power cut). */
  cleanShutdown: boolean
  /** LevelDB needed a repair before it would open. */
  repaired: boolean
  /**
   * How much was read: 'none' after a clean shutdown (counters from metadata),
   * 'tail' after a crash (the newest records, those LevelDB's write-ahead log
   * held), 'full' after a repair or without stored counters.
   */
  check: 'none' | 'tail' | 'full'
  /** Records whose values were decoded by the check. */
  checked: number
  /** Events that should exist (after the acknowledged head, before nextSeq) but were not found after damage. */
  lost: number
  /** Their sequence ranges, inclusive (at most 100 listed). */
  lostRanges: Array<{ from: number; to: number }>
  /** Where the damaged files were set aside, if they were. */
  setAside: string | null
}

/** Read side used by uplink/. */
export interface SpoolReader {
  /** Up to `limit` records with seq > afterSeq, oldest first. afterSeq -1 = from the head. */
  readAfter(afterSeq: number, limit: number, opts?: ReadOptions): Promise<StoredEvent[]>
  /** Delete a record the upstream acknowledged. Not fsync'd: a lost delete means one re-send. */
  ack(seq: number): void
  /**
   * ack() for each of these records (a batch the upstream acknowledged), in one call. Seqs
   * already acked or rejected are skipped.
   */
  ackMany(records: ReadonlyArray<{ readonly seq: number }>): void
  /** Keep a record for a later retry, counting the attempt. */
  noteAttempt(seq: number): Promise<void>
  /** Move a record out of the forward log into the rejected store, with the reason. */
  reject(event: StoredEvent, reason: string, reasonCode?: number): Promise<void>
  /** Called after every committed append batch; returns an unsubscribe function. */
  onAppend(listener: () => void): () => void
  stats(): SpoolStats
}

/**
 * Retransmission hint from the device side: the MQTT packet id of a QoS >= 1
 * publish, and whether the packet carried DUP=1. Every hinted append is
 * remembered (per client, a bounded window of packet ids); a retransmission
 * with the same packet id and the same content resolves to the stored record.
 */
export interface DedupHint {
  messageId: number
  retransmit: boolean
}

export interface AppendResult {
  seq: number
  id: string
  /** True when this was a retransmission of an event already stored. */
  duplicate: boolean
}

/**
 * How `appendThen` answers: `err` null once the event is on disk, with its
 * seq and id (`duplicate`: a retransmission of one stored before); else the
 * error `append` would reject with, seq -1 and id ''.
 */
export type AppendCallback = (err: Error | null, seq: number, id: string, duplicate: boolean) => void

/** Write side used by broker/. */
export interface SpoolWriter {
  /**
   * Store an event durably. Resolves once its batch is fsync'd; appends that
   * arrive within the group-commit window share one batch. The sequence number
   * is taken synchronously at call time, so call order is log order.
   */
  append(input: EventInput, dedup?: DedupHint): Promise<AppendResult>
  /**
   * The same append, answered through a callback (always after the call
   * returns) instead of a promise: the ingest path's form, one call per
   * event and no promise per event.
   */
  appendThen?(input: EventInput, dedup: DedupHint | undefined, done: AppendCallback): void
  /**
   * Backpressure: an append refused with OUTPOST_SPOOL_FULL or
   * OUTPOST_SPOOL_UNAVAILABLE may succeed after this listener is called
   * (acks freed room, disk space came back, the store was reopened).
   * Returns an unsubscribe function.
   */
  onWritable?(listener: () => void): () => void
  /** Would an append be taken right now (no limit reached, store writable)? Synchronous and cheap. */
  writable?(): boolean
}
