import { decode } from 'cbor-x'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import {
  decodePacket, decodeSubscription, encodeValue, FORMAT_KEY, FORMAT_VERSION, parseKey,
  type StoredPacket, type StoredSubscription,
} from './session-store-codec.js'
import type { SessionDb } from './session-store-db.js'
import type { OutgoingQueues } from './session-store-outgoing.js'
import type { IncomingStore, WillStore } from './session-store-sessions.js'

export interface LoadTargets {
  retained(packet: StoredPacket): Promise<void>
  subscriptions(clientId: string, subs: StoredSubscription[]): Promise<void>
  outgoing: OutgoingQueues
  incoming: IncomingStore
  wills: WillStore
}

export interface LoadStats { records: number; skipped: number }

/** Marks a new store with the layout version; refuses one written by a newer layout. */
export async function checkFormat(db: SessionDb, dir: string): Promise<void> {
  const bytes = await db.get(FORMAT_KEY)
  if (bytes === undefined) {
    await db.put(FORMAT_KEY, encodeValue(FORMAT_VERSION), { sync: true })
    return
  }
  let version: unknown
  try { version = decode(bytes) } catch { version = undefined }
  if (version !== FORMAT_VERSION) {
    throw new OutpostError(ErrorCodes.SESSION_STORE_OPEN,
      `session store ${dir} has layout version ${String(version)}, this Outpost reads version ${FORMAT_VERSION}`)
  }
}

/**
 * Reads every record into memory. A record that cannot be read is logged with
 * its key and skipped: one bad record must not cost the other sessions.
 */
export async function loadSessions(db: SessionDb, log: Logger, into: LoadTargets): Promise<LoadStats> {
  const subs = new Map<string, StoredSubscription[]>()
  const stats: LoadStats = { records: 0, skipped: 0 }
  for await (const [key, value] of db.iterator()) {
    const k = parseKey(key)
    if (k?.kind === 'outgoing') into.outgoing.reserve(k.seq)
    try {
      if (!k) throw new Error('unknown key')
      switch (k.kind) {
        case 'meta': continue
        case 'retained': await into.retained(decodePacket(value)); break
        case 'outgoing': into.outgoing.restore(k.clientId, k.seq, decodePacket(value)); break
        case 'incoming': into.incoming.restore(k.clientId, { ...decodePacket(value), messageId: k.messageId }); break
        case 'will': into.wills.restore(k.clientId, { ...decodePacket(value), clientId: k.clientId }); break
        case 'sub': {
          const list = subs.get(k.clientId) ?? []
          list.push({ ...decodeSubscription(value), topic: k.topic })
          subs.set(k.clientId, list)
          break
        }
      }
      stats.records++
    } catch (err) {
      stats.skipped++
      log.warn({ key, reason: (err as Error).message }, 'session store: skipped an unreadable record')
    }
  }
  for (const [clientId, list] of subs) await into.subscriptions(clientId, list)
  return stats
}
