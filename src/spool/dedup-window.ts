/**
 * Per device, the last `size` packet ids it used, with a digest of what each
 * carried. A device that got no PUBACK re-sends with DUP=1 and the same packet
 * id; if the digest matches, the event is already stored. Bounded: packet ids
 * are reused by devices, and only the recent ones can be retransmissions.
 */
export interface DedupEntry {
  /** eventDigest(); a string in entries stored by versions that used sha1. */
  digest: number | string
  seq: number
  id: string
  /**
   * True once this run has committed the event (and so let the device broker
   * acknowledge it). Entries loaded from disk are unconfirmed: the previous
   * run may have died between the fsync and the PUBACK.
   */
  confirmed: boolean
}

export interface DedupWindow {
  get(clientId: string, messageId: number): DedupEntry | undefined
  /** Remember an entry; returns the packet id evicted to make room, if any. */
  set(clientId: string, messageId: number, entry: DedupEntry): number | undefined
  /** Forget an entry if it still names this sequence number (a failed write). */
  forget(clientId: string, messageId: number, seq: number): void
  readonly size: number
}

export function createDedupWindow(size: number): DedupWindow {
  const clients = new Map<string, Map<number, DedupEntry>>()
  let total = 0
  return {
    get(clientId, messageId) {
      return clients.get(clientId)?.get(messageId)
    },
    set(clientId, messageId, entry) {
      let ids = clients.get(clientId)
      if (!ids) {
        ids = new Map()
        clients.set(clientId, ids)
      }
      // Delete first so a reused id moves to the newest end of the order.
      if (ids.delete(messageId)) total--
      ids.set(messageId, entry)
      total++
      if (ids.size > size) {
        const oldest = ids.keys().next().value as number
        ids.delete(oldest)
        total--
        return oldest
      }
      return undefined
    },
    forget(clientId, messageId, seq) {
      const ids = clients.get(clientId)
      if (ids?.get(messageId)?.seq === seq) {
        ids.delete(messageId)
        total--
        if (ids.size === 0) clients.delete(clientId)
      }
    },
    get size() {
      return total
    },
  }
}
