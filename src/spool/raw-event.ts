import { readRecord, scanRecord } from './record-reader.js'
import type { StoredEvent, StoredRecordBytes } from './types.js'

/**
 * A record read for batched mode (readAfter with `raw`): the stored bytes and
 * where its items lie, with the small fields (seq, qos, retain, acceptedAt,
 * attempts) read and the text fields left as bytes. A batch copies the items
 * (batch-builder.ts); the strings are decoded only if something asks for them
 * (a log line, a reject), once. The bytes are LevelDB's copy of the value,
 * which nobody writes again.
 */
class RawEvent implements StoredEvent, StoredRecordBytes {
  readonly seq: number
  readonly qos: 0 | 1 | 2
  readonly retain: boolean
  readonly acceptedAt: number
  attempts?: number
  readonly bytes: Uint8Array
  readonly textEnd: number
  readonly payloadAt: number
  readonly payloadEnd: number
  readonly metaAt: number
  readonly metaEnd: number
  private readonly payloadData: number
  private full: StoredEvent | undefined

  constructor(seq: number, bytes: Uint8Array, l: NonNullable<ReturnType<typeof scanRecord>>) {
    this.seq = seq
    this.qos = l.qos
    this.retain = l.retain
    this.acceptedAt = l.acceptedAt
    if (l.attempts > 0) this.attempts = l.attempts
    this.bytes = bytes
    this.textEnd = l.textEnd
    this.payloadAt = l.payloadAt
    this.payloadEnd = l.payloadEnd
    this.metaAt = l.metaAt
    this.metaEnd = l.metaEnd
    this.payloadData = l.payloadData
    this.full = undefined
  }

  get record(): StoredRecordBytes { return this }
  get id(): string { return this.decoded().id }
  get clientId(): string { return this.decoded().clientId }
  get topic(): string { return this.decoded().topic }
  get payload(): Uint8Array { return this.bytes.subarray(this.payloadData, this.payloadEnd) }
  get meta(): Readonly<Record<string, string>> | undefined { return this.decoded().meta }
  get upstreamTopic(): string | undefined { return this.decoded().upstreamTopic }

  private decoded(): StoredEvent {
    // scanRecord accepted the record: readRecord reads every record scanRecord accepts.
    this.full ??= readRecord(this.seq, this.bytes)!
    return this.full
  }
}

/** The record as a RawEvent, or undefined when it is not in the forms a batch copies (decode it instead). */
export function readRaw(seq: number, bytes: Uint8Array): StoredEvent | undefined {
  const layout = scanRecord(bytes)
  return layout === undefined ? undefined : new RawEvent(seq, bytes, layout)
}

/** A plain StoredEvent with every field, for what keeps or encodes the event (the rejected store). */
export function plainEvent(event: StoredEvent): StoredEvent {
  if (event.record === undefined) return event
  const out: StoredEvent = {
    seq: event.seq, id: event.id, clientId: event.clientId, topic: event.topic, payload: event.payload,
    qos: event.qos, retain: event.retain, acceptedAt: event.acceptedAt,
  }
  if (event.attempts !== undefined) out.attempts = event.attempts
  if (event.meta !== undefined) out.meta = event.meta
  if (event.upstreamTopic !== undefined) out.upstreamTopic = event.upstreamTopic
  return out
}
