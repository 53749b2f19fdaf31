import { encodeValue, keys, pickPacket, type StoredPacket } from './session-store-codec.js'
import type { Op } from './session-store-db.js'

/**
 * Incoming QoS 2 packets awaiting PUBREL. A clean session's packets stay in
 * memory only: its state ends with the connection, so a restart may drop them,
 * and skipping the fsync keeps clean QoS 2 publishers fast.
 */
export interface IncomingStore {
  store(clientId: string, packet: StoredPacket, persist: boolean): Op[]
  get(clientId: string, messageId: number | undefined): StoredPacket | undefined
  /** Throws Error('no such packet') like the in-memory store. */
  del(clientId: string, messageId: number | undefined): Op[]
  clean(clientId: string): Op[]
  restore(clientId: string, packet: StoredPacket): void
  readonly size: number
}

interface Incoming { packet: StoredPacket; persisted: boolean }

export function createIncomingStore(): IncomingStore {
  const byClient = new Map<string, Map<number, Incoming>>()
  let size = 0

  function set(clientId: string, messageId: number, e: Incoming): void {
    let m = byClient.get(clientId)
    if (!m) { m = new Map(); byClient.set(clientId, m) }
    if (!m.has(messageId)) size++
    m.set(messageId, e)
  }

  return {
    store(clientId, packet, persist) {
      const messageId = packet.messageId ?? 0
      const p = pickPacket(packet)
      p.messageId = messageId
      const previous = byClient.get(clientId)?.get(messageId)
      set(clientId, messageId, { packet: p, persisted: persist })
      const key = keys.incoming(clientId, messageId)
      if (persist) return [{ type: 'put', key, value: encodeValue(p) }]
      return previous?.persisted ? [{ type: 'del', key }] : []
    },
    get(clientId, messageId) {
      return byClient.get(clientId)?.get(messageId ?? 0)?.packet
    },
    del(clientId, messageId) {
      const m = byClient.get(clientId)
      const id = messageId ?? 0
      const e = m?.get(id)
      if (!m || !e) throw new Error('no such packet')
      m.delete(id)
      size--
      if (m.size === 0) byClient.delete(clientId)
      return e.persisted ? [{ type: 'del', key: keys.incoming(clientId, id) }] : []
    },
    clean(clientId) {
      const m = byClient.get(clientId)
      if (!m) return []
      byClient.delete(clientId)
      size -= m.size
      const ops: Op[] = []
      for (const [id, e] of m) if (e.persisted) ops.push({ type: 'del', key: keys.incoming(clientId, id) })
      return ops
    },
    restore(clientId, packet) {
      set(clientId, packet.messageId ?? 0, { packet, persisted: true })
    },
    get size() {
      return size
    },
  }
}

/** Wills, keyed by client id; each keeps the id of the broker that stored it. */
export interface WillStore {
  put(clientId: string, will: StoredPacket): Op
  get(clientId: string): StoredPacket | undefined
  del(clientId: string): { will: StoredPacket | undefined; ops: Op[] }
  /** Wills whose broker is not in `alive`. */
  orphans(alive: Record<string, unknown>): StoredPacket[]
  restore(clientId: string, will: StoredPacket): void
  readonly size: number
}

export function createWillStore(): WillStore {
  const wills = new Map<string, StoredPacket>()
  return {
    put(clientId, will) {
      wills.set(clientId, will)
      return { type: 'put', key: keys.will(clientId), value: encodeValue(pickPacket(will)) }
    },
    get: (clientId) => wills.get(clientId),
    del(clientId) {
      const will = wills.get(clientId)
      if (!will) return { will, ops: [] }
      wills.delete(clientId)
      return { will, ops: [{ type: 'del', key: keys.will(clientId) }] }
    },
    orphans(alive) {
      return [...wills.values()].filter((w) => !(w.brokerId !== undefined && alive[w.brokerId]))
    },
    restore(clientId, will) {
      wills.set(clientId, will)
    },
    get size() {
      return wills.size
    },
  }
}
