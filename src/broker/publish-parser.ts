/**
 * A shorter parse for the packet devices send most: PUBLISH at QoS 0 or 1.
 *
 * aedes gives every connection an mqtt-packet parser and handles what it
 * emits as 'packet'. That parser reads each field through a buffer list,
 * state by state, and costs more per PUBLISH than the rest of aedes' handling
 * of it (docs/performance.md). `speedUpPublishParsing` wraps the parser's
 * parse(): it frames the bytes itself; a well-formed MQTT 3.1.1 PUBLISH at
 * QoS 0 or 1 becomes the same packet object mqtt-packet would emit, emitted
 * the same way; every other packet, and any PUBLISH that is malformed or at
 * QoS 2, goes to the original parser as one whole packet, in order, so its
 * errors and checks are unchanged. An unfinished packet at the end of a read
 * waits here for the rest.
 *
 * The framing and decoding are pure (no sockets) and tested on their own.
 */

/** The fields of mqtt-packet's PUBLISH packet (MQTT 3.1.1: no properties), in its order. */
export class PublishPacket {
  readonly cmd = 'publish'
  constructor(
    readonly retain: boolean,
    readonly qos: 0 | 1,
    readonly dup: boolean,
    /** The remaining length. */
    readonly length: number,
    readonly topic: string,
    readonly payload: Buffer,
    readonly messageId?: number,
  ) {}
}

/** One packet's place in a buffer. */
export interface Frame {
  /** Offset of the body (after the fixed header). */
  body: number
  /** Offset after the packet. */
  end: number
}

/** Not a valid remaining length: the original parser reports it. */
export const MALFORMED = 'malformed'

/** The packet at `at`: null while the buffer ends before it does. */
export function frameAt(buf: Buffer, at: number): Frame | null | typeof MALFORMED {
  let length = 0
  let mult = 1
  for (let i = at + 1; i < at + 5; i++) {
    if (i >= buf.length) return null
    const byte = buf[i]!
    length += (byte & 0x7f) * mult
    if ((byte & 0x80) === 0) {
      const end = i + 1 + length
      return end <= buf.length ? { body: i + 1, end } : null
    }
    mult *= 128
  }
  return MALFORMED
}

/**
 * The PUBLISH in buf[start, frame.end), when it is one this path takes: QoS 0
 * or 1 with room for its topic and packet id. Null for anything else.
 */
export function decodePublish(buf: Buffer, start: number, frame: Frame): PublishPacket | null {
  const first = buf[start]!
  if (first >> 4 !== 3) return null
  const qos = (first >> 1) & 3
  if (qos > 1) return null
  const { body, end } = frame
  if (end - body < 2) return null
  const topicEnd = body + 2 + buf.readUInt16BE(body)
  const idEnd = qos === 1 ? topicEnd + 2 : topicEnd
  if (idEnd > end) return null
  return new PublishPacket(
    (first & 1) !== 0,
    qos as 0 | 1,
    (first & 8) !== 0,
    end - body,
    buf.toString('utf8', body + 2, topicEnd),
    buf.subarray(idEnd, end),
    qos === 1 ? buf.readUInt16BE(topicEnd) : undefined,
  )
}

/** What the wrapper needs of an mqtt-packet parser. */
export interface PacketParser {
  parse(buf: Buffer): unknown
  emit(event: 'packet', packet: unknown): boolean
  error?: unknown
  settings?: { protocolVersion?: number }
  /** Bytes the original parser holds (mqtt-packet's buffer list). */
  _list?: { length: number }
  _stateCounter?: number
}

/** Longest unfinished packet kept here between reads. */
const TAIL_MAX = 8192

export function speedUpPublishParsing(parser: PacketParser): void {
  const original = parser.parse.bind(parser)
  let tail: Buffer | null = null

  /** The original parser is in the middle of something: give it everything. */
  const originalBusy = (): boolean =>
    parser.error != null || parser._list === undefined || parser._list.length > 0 || parser._stateCounter !== 0

  parser.parse = (chunk: Buffer): void => {
    const buf = tail === null ? chunk : Buffer.concat([tail, chunk])
    tail = null
    if (originalBusy()) {
      original(buf)
      return
    }
    // MQTT 5 PUBLISHes carry properties: not this path's (aedes speaks 3.1.1).
    const fast = parser.settings?.protocolVersion !== 5
    let at = 0
    while (at < buf.length) {
      const frame = frameAt(buf, at)
      if (frame === null) break
      if (frame === MALFORMED) {
        original(buf.subarray(at))
        return
      }
      const packet = fast ? decodePublish(buf, at, frame) : null
      if (packet !== null) parser.emit('packet', packet)
      else original(buf.subarray(at, frame.end))
      // The original parser stops at an error; the connection is being closed.
      if (parser.error != null) return
      at = frame.end
    }
    if (at === buf.length) return
    const rest = buf.subarray(at)
    // A large packet in the making goes to the original parser, whose buffer
    // list gathers it without copying it again on every read; until it is
    // complete, the original parser takes everything (originalBusy).
    if (rest.length > TAIL_MAX) original(rest)
    // Copied: the rest of the read may be released while the tail waits.
    else tail = Buffer.from(rest)
  }
}
