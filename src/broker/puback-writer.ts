import type { Writable } from 'node:stream'
import mqttPacket from 'mqtt-packet'

/**
 * PUBACKs to devices, gathered per connection and written once per tick.
 *
 * aedes writes every packet through mqtt-packet's writeToStream, which
 * corks the socket, writes the packet's fields as separate stream chunks
 * and uncorks on the next tick: for a 4-byte PUBACK, a stream write per
 * field, a buffered-write record each, and a writev entry each. A group
 * commit acknowledges up to hundreds of a device's publishes at once.
 *
 * `gatherPubacks(socket)` marks a device connection; for those only,
 * writeToStream's PUBACKs (MQTT 3.1.1: fixed header and packet id) are kept
 * in order and written as one buffer when the current tick's work is done.
 * Every other packet, and every other stream, takes mqtt-packet's own path.
 * MQTT asks that PUBACKs go in the order of their PUBLISHes [MQTT-4.6.0-2]:
 * they do; other packets may go before PUBACKs gathered earlier in the same
 * tick, which MQTT allows.
 *
 * The return value keeps writeToStream's meaning for aedes' backpressure:
 * false while the socket asks the writer to wait for 'drain'.
 */
type WriteToStream = (packet: mqttPacket.Packet, stream: Writable, opts?: { protocolVersion?: number }) => boolean

interface Gathered {
  /** Packet ids ids[0, n): the array is written over, never emptied, so it keeps its storage. */
  ids: number[]
  n: number
  queued: boolean
}

const gathering = new WeakMap<Writable, Gathered>()
let original: WriteToStream | null = null

export function gatherPubacks(socket: Writable): void {
  install()
  gathering.set(socket, { ids: [], n: 0, queued: false })
}

function install(): void {
  if (original !== null) return
  const exported = mqttPacket as unknown as { writeToStream: WriteToStream }
  const own = exported.writeToStream
  original = own
  const writeToStream: WriteToStream = (packet, stream, opts) => {
    const g = gathering.get(stream)
    if (g === undefined || packet.cmd !== 'puback' || (opts?.protocolVersion ?? 4) === 5) return own(packet, stream, opts)
    const id = packet.messageId
    // mqtt-packet refuses a missing or out-of-range id: let it.
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff) return own(packet, stream, opts)
    g.ids[g.n++] = id
    if (!g.queued) {
      g.queued = true
      process.nextTick(flush, stream, g)
    }
    return !stream.writableNeedDrain
  }
  // Properties of the function (cacheNumbers) stay reachable.
  Object.setPrototypeOf(writeToStream, own)
  exported.writeToStream = writeToStream
}

function flush(stream: Writable, g: Gathered): void {
  g.queued = false
  const ids = g.ids
  const n = g.n
  g.n = 0
  const out = Buffer.allocUnsafe(4 * n)
  for (let i = 0, at = 0; i < n; i++, at += 4) {
    const id = ids[i]!
    out[at] = 0x40
    out[at + 1] = 2
    out[at + 2] = id >> 8
    out[at + 3] = id & 0xff
  }
  if (!stream.destroyed && !stream.writableEnded) stream.write(out)
}
