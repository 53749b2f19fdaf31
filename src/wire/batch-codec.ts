import { Decoder, Encoder } from 'cbor-x'
import { ErrorCodes, OutpostError } from '../errors.js'

/**
 * The batched upstream format: many events in one upstream MQTT message, as
 * CBOR. Format and compatibility rules: docs/batch-format.md.
 *
 *   55799( ["outpost-batch", 1, gatewayId, [event, ...]] )
 *   event = [id, clientId, topic, acceptedAt, qos, retain, payload, meta, historical, ...]
 *
 * Pure functions, no I/O. Encoding builds one small array per event and hands
 * the whole batch to cbor-x in one call (no per-event JSON). Decoding checks
 * the type of every field and throws an OutpostError (`OUTPOST_BATCH_INVALID`,
 * `OUTPOST_BATCH_VERSION`) instead of returning something half-trusted.
 */

/** The marker string, first element of the top-level array. */
export const BATCH_MARKER = 'outpost-batch'
/** The only format version this codec writes and reads. */
export const BATCH_VERSION = 1
/** MQTT 5 content type of a batch message. */
export const BATCH_CONTENT_TYPE = 'application/vnd.outpost.batch+cbor'

/** One event inside a batch. */
export interface BatchEvent {
  /** Event id, `<gatewayId>-<epoch>-<seq>`: the dedup key. */
  id: string
  /** MQTT client id of the device that published it. */
  clientId: string
  /** The device's topic (not the upstream topic). */
  topic: string
  /** When the gateway accepted it, ms since the Unix epoch. */
  acceptedAt: number
  qos: 0 | 1 | 2
  /** The device's retain flag. */
  retain: boolean
  /** The device's payload, unchanged. After decoding: a view into the decoded message's bytes. */
  payload: Uint8Array
  /** String metadata; absent when the event has none (null on the wire). */
  meta?: Readonly<Record<string, string>>
  /** True when the event waited in the gateway's backlog longer than `upstream.historicalAfterMs`. */
  historical: boolean
}

export interface DecodedBatch {
  gatewayId: string
  /** Oldest first, as the gateway sent them. */
  events: BatchEvent[]
}

// The self-describe tag 55799 as CBOR: major type 6, two-byte argument 0xd9f7.
const TAG_0 = 0xd9
const TAG_1 = 0xd9
const TAG_2 = 0xf7
// After the tag: an array header of at least 4 (0x84..0x97 or longer forms), then the marker text.
const MARKER_CBOR = Buffer.from([0x6d, ...Buffer.from(BATCH_MARKER)]) // text(13) "outpost-batch"

// useRecords:false: plain CBOR maps/arrays (no cbor-x record extension);
// tagUint8Array:false: a Uint8Array is a plain byte string, not tag 64.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, useSelfDescribedHeader: true })
// mapsAsObjects:false: maps decode to Map, so key types can be checked.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false })

/**
 * Encode events (oldest first) as one batch message payload. The result is a
 * fresh Buffer the caller may keep.
 */
export function encodeBatch(gatewayId: string, events: readonly BatchEvent[]): Buffer {
  const rows = new Array<unknown[]>(events.length)
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as BatchEvent
    rows[i] = [
      e.id, e.clientId, e.topic,
      // cbor-x writes an integer >= 2^32 given as a number as a float64; a
      // bigint becomes a CBOR uint, which is what the format says.
      BigInt(e.acceptedAt),
      e.qos, e.retain, e.payload, e.meta ?? null, e.historical,
    ]
  }
  const bytes = encoder.encode([BATCH_MARKER, BATCH_VERSION, gatewayId, rows])
  // cbor-x returns a view into its own (large, shared) output buffer: copy so
  // the caller does not pin it.
  return Buffer.from(bytes)
}

/**
 * True when the bytes start like a batch: the self-describe tag, an array, and
 * the "outpost-batch" marker. Cheap (looks at the first bytes only); it does not
 * prove the rest is valid, decodeBatch does.
 */
export function isBatch(bytes: Uint8Array): boolean {
  if (bytes.length < 4 + MARKER_CBOR.length) return false
  if (bytes[0] !== TAG_0 || bytes[1] !== TAG_1 || bytes[2] !== TAG_2) return false
  const head = bytes[3] as number
  let at: number
  if (head >= 0x84 && head <= 0x97) at = 4 // array, length 4..23 in the header byte
  else if (head === 0x98) at = 5 // array, one-byte length
  else if (head === 0x99) at = 6 // two-byte length
  else if (head === 0x9f) at = 4 // indefinite length
  else return false
  if (bytes.length < at + MARKER_CBOR.length) return false
  for (let i = 0; i < MARKER_CBOR.length; i++) {
    if (bytes[at + i] !== MARKER_CBOR[i]) return false
  }
  return true
}

/**
 * Decode and validate a batch. Unknown trailing elements of an event array, or
 * of the top-level array, are ignored (later versions may append fields).
 * Throws OutpostError `OUTPOST_BATCH_VERSION` for a version other than 1 and
 * `OUTPOST_BATCH_INVALID` for anything else that is not a valid batch.
 */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  if (bytes.length < 3 || bytes[0] !== TAG_0 || bytes[1] !== TAG_1 || bytes[2] !== TAG_2) {
    throw invalid('does not start with the CBOR self-describe tag (d9 d9 f7)')
  }
  let root: unknown
  try {
    root = decoder.decode(bytes)
  } catch (err) {
    throw invalid(`not valid CBOR (${(err as Error).message})`, err)
  }
  if (!Array.isArray(root) || root.length < 4 || root[0] !== BATCH_MARKER) {
    throw invalid(`not an ["${BATCH_MARKER}", version, gatewayId, events] array`)
  }
  const [, version, gatewayId, rows] = root as unknown[]
  if (version !== BATCH_VERSION) {
    throw new OutpostError(ErrorCodes.BATCH_VERSION,
      `batch format version ${describe(version)} is not supported (this decoder reads version ${BATCH_VERSION})`)
  }
  if (typeof gatewayId !== 'string') throw invalid('gatewayId is not text')
  if (!Array.isArray(rows)) throw invalid('events is not an array')
  const events = new Array<BatchEvent>(rows.length)
  for (let i = 0; i < rows.length; i++) events[i] = decodeEvent(rows[i], i)
  return { gatewayId, events }
}

function decodeEvent(row: unknown, i: number): BatchEvent {
  if (!Array.isArray(row) || row.length < 9) throw invalid(`event ${i} is not an array of at least 9 fields`)
  const [id, clientId, topic, acceptedAt, qos, retain, payload, meta, historical] = row as unknown[]
  if (typeof id !== 'string' || id === '') throw invalid(`event ${i}: id is not a non-empty text`)
  if (typeof clientId !== 'string') throw invalid(`event ${i} (${id}): clientId is not text`)
  if (typeof topic !== 'string') throw invalid(`event ${i} (${id}): topic is not text`)
  const at = toTimestamp(acceptedAt)
  if (at === undefined) throw invalid(`event ${i} (${id}): acceptedAt is not an unsigned integer of ms`)
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`event ${i} (${id}): qos is not 0, 1 or 2`)
  if (typeof retain !== 'boolean') throw invalid(`event ${i} (${id}): retain is not a boolean`)
  if (!(payload instanceof Uint8Array)) throw invalid(`event ${i} (${id}): payload is not a byte string`)
  let metaMap: Record<string, string> | undefined
  if (meta !== null) {
    metaMap = toStringMap(meta)
    if (metaMap === undefined) throw invalid(`event ${i} (${id}): meta is neither null nor a map of text to text`)
  }
  if (typeof historical !== 'boolean') throw invalid(`event ${i} (${id}): historical is not a boolean`)
  const event: BatchEvent = { id, clientId, topic, acceptedAt: at, qos, retain, payload, historical }
  if (metaMap !== undefined) event.meta = metaMap
  return event
}

/** A CBOR uint decodes to a number, or a bigint above 2^53 - 1 (refused). */
function toTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined
  return undefined
}

function toStringMap(v: unknown): Record<string, string> | undefined {
  if (!(v instanceof Map)) return undefined
  const out: Record<string, string> = {}
  for (const [k, x] of v as Map<unknown, unknown>) {
    // '__proto__' would not be stored as a key by a plain assignment.
    if (typeof k !== 'string' || typeof x !== 'string' || k === '__proto__') return undefined
    out[k] = x
  }
  return out
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v)
}

function invalid(why: string, cause?: unknown): OutpostError {
  return new OutpostError(ErrorCodes.BATCH_INVALID, `invalid outpost batch: ${why}`, cause === undefined ? undefined : { cause })
}
