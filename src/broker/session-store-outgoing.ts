import { encodeValue, keys, pickPacket, type StoredPacket } from './session-store-codec.js'
import type { Op } from './session-store-db.js'

interface Entry { key: string; packet: StoredPacket }

/**
 * Per-client outgoing queues, held in memory, with the LevelDB op that mirrors
 * each change. The search rules are those of aedes-persistence's in-memory
 * store, so aedes sees the same behaviour; each entry also remembers its key,
 * so an update or a clear rewrites or deletes exactly the stored record.
 */
export interface OutgoingQueues {
  enqueue(clientId: string, packet: object): Op
  /** Throws Error('no such packet') like the in-memory store. */
  update(clientId: string, packet: StoredPacket): Op
  clear(clientId: string, messageId: number | undefined): { packet: StoredPacket; op: Op } | undefined
  list(clientId: string): StoredPacket[]
  /** Loading: entries must come in key order. */
  restore(clientId: string, seq: number, packet: StoredPacket): void
  /** Seq numbers seen so far must not be reused (corrupt records included). */
  reserve(seq: number): void
  readonly size: number
}

/** What aedes-packet's constructor keeps: a queued QoS>0 packet has no messageId yet. */
function queuedPacket(p: object): StoredPacket {
  const packet = pickPacket(p)
  packet.cmd ??= 'publish'
  packet.payload ??= Buffer.alloc(0)
  packet.qos ??= 0
  packet.retain ??= false
  packet.dup ??= false
  packet.brokerCounter ??= 0
  if (packet.qos > 0 || packet.cmd !== 'publish') delete packet.messageId
  return packet
}

export function createOutgoingQueues(): OutgoingQueues {
  const queues = new Map<string, Entry[]>()
  let nextSeq = 0
  let size = 0

  function queue(clientId: string): Entry[] {
    let q = queues.get(clientId)
    if (!q) { q = []; queues.set(clientId, q) }
    return q
  }

  const put = (e: Entry): Op => ({ type: 'put', key: e.key, value: encodeValue(e.packet) })

  return {
    enqueue(clientId, packet) {
      const entry = { key: keys.outgoing(clientId, nextSeq++), packet: queuedPacket(packet) }
      queue(clientId).push(entry)
      size++
      return put(entry)
    },
    update(clientId, packet) {
      for (const entry of queues.get(clientId) ?? []) {
        const temp = entry.packet
        if (temp.brokerId === packet.brokerId) {
          // same broker: the brokerCounter identifies the packet (messageIds wrap)
          if (temp.brokerCounter === packet.brokerCounter) {
            temp.messageId = packet.messageId
            return put(entry)
          }
        } else if (temp.messageId === packet.messageId) {
          // e.g. a PUBREL replacing its PUBLISH
          entry.packet = pickPacket(packet)
          return put(entry)
        }
      }
      throw new Error('no such packet')
    },
    clear(clientId, messageId) {
      const q = queues.get(clientId)
      if (!q) return undefined
      const i = q.findIndex((e) => e.packet.messageId === messageId)
      if (i < 0) return undefined
      const [entry] = q.splice(i, 1) as [Entry]
      if (q.length === 0) queues.delete(clientId)
      size--
      return { packet: entry.packet, op: { type: 'del', key: entry.key } }
    },
    list(clientId) {
      return (queues.get(clientId) ?? []).map((e) => e.packet)
    },
    restore(clientId, seq, packet) {
      queue(clientId).push({ key: keys.outgoing(clientId, seq), packet })
      size++
    },
    reserve(seq) {
      if (seq >= nextSeq) nextSeq = seq + 1
    },
    get size() {
      return size
    },
  }
}
