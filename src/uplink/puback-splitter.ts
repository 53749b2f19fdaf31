/**
 * Takes PUBACKs out of the bytes the upstream sends, before MQTT.js parses
 * them. Pure: no socket; chunks in, callbacks out.
 *
 * The uplink sends only QoS 1 PUBLISHes of its own, and nearly everything the
 * upstream sends back is their PUBACKs: 4 bytes each on MQTT 3.1.1, 4 or a few
 * more on MQTT 5 (reason code, then properties). Parsed by MQTT.js, each one
 * becomes a packet object, a process.nextTick, an event and a store look-up;
 * here it is two byte reads and one call. Every other packet (CONNACK,
 * PINGRESP, DISCONNECT, AUTH, anything unexpected, anything malformed) goes
 * to MQTT.js unchanged and in order, so it still owns the session.
 *
 * A PUBACK is only taken when it is well formed: fixed header exactly 0x40 and
 * at least the two bytes of the packet id. A packet split across chunks is
 * kept until it is whole (a PUBACK), or passed on piece by piece (anything
 * else: MQTT.js's parser takes partial packets). After a malformed length
 * everything goes to MQTT.js, which closes the connection with its error.
 */

export interface PubackSink {
  /** A PUBACK: its packet id and reason code (0 when the packet has none). */
  puback(messageId: number, reasonCode: number): void
  /** Bytes of other packets, to hand to MQTT.js. */
  other(bytes: Buffer): void
}

const PUBACK = 0x40

export function createPubackSplitter(sink: PubackSink): (chunk: Buffer) => void {
  /** The start of a packet whose header or PUBACK body is not complete yet. */
  let rest: Buffer | null = null
  /** Bytes of a non-PUBACK packet still to come, passed on as they arrive. */
  let passing = 0
  /** A malformed length was seen: from then on everything goes to MQTT.js. */
  let broken = false

  return (chunk) => {
    if (broken) {
      sink.other(chunk)
      return
    }
    let buf = chunk
    let at = 0
    if (passing > 0) {
      const n = Math.min(passing, buf.length)
      sink.other(n === buf.length ? buf : buf.subarray(0, n))
      passing -= n
      at = n
      if (at === buf.length) return
    }
    if (rest !== null) {
      buf = Buffer.concat([rest, at === 0 ? buf : buf.subarray(at)])
      rest = null
      at = 0
    }
    /** Start of a run of other packets not yet passed on, or -1. */
    let otherFrom = -1
    const end = buf.length
    while (at < end) {
      // Fixed header: type byte, then the remaining length (1 to 4 bytes).
      let len = 0
      let mul = 1
      let i = at + 1
      let complete = false
      while (i < end && i < at + 5) {
        const b = buf[i++]!
        len += (b & 0x7f) * mul
        mul *= 128
        if ((b & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete) {
        if (i >= at + 5) {
          // More than four length bytes: malformed. MQTT.js's parser reports it.
          broken = true
          sink.other(buf.subarray(otherFrom === -1 ? at : otherFrom))
          return
        }
        break // the header goes on in the next chunk
      }
      const packetEnd = i + len
      if (buf[at] === PUBACK && len >= 2) {
        if (packetEnd > end) break // the rest of this PUBACK comes next
        if (otherFrom !== -1) {
          sink.other(buf.subarray(otherFrom, at))
          otherFrom = -1
        }
        sink.puback((buf[i]! << 8) | buf[i + 1]!, len >= 3 ? buf[i + 2]! : 0)
        at = packetEnd
        continue
      }
      if (otherFrom === -1) otherFrom = at
      if (packetEnd > end) {
        passing = packetEnd - end
        at = end
        break
      }
      at = packetEnd
    }
    if (otherFrom !== -1) sink.other(buf.subarray(otherFrom, at))
    if (at < end) rest = buf.subarray(at)
  }
}
