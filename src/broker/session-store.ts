import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import { encodeValue, keys, pickPacket, pickSubscription, type StoredPacket, type StoredSubscription } from './session-store-codec.js'
import { createBatchWriter, openSessionDb, type Op } from './session-store-db.js'
import { checkFormat, loadSessions } from './session-store-load.js'
import { createOutgoingQueues } from './session-store-outgoing.js'
import { createIncomingStore, createWillStore } from './session-store-sessions.js'

/**
 * Durable session persistence for aedes 1.x. Every read is served from memory;
 * every mutation is mirrored to LevelDB through a group commit, and its promise
 * settles once the batch carrying it is fsync'd. Two exceptions, whose loss
 * after a crash only re-sends a QoS 1 message: clearing an acknowledged
 * outgoing packet, and recording the messageId of a QoS 1 delivery.
 *
 * Retained messages and the subscription tries are aedes-persistence's
 * in-memory store; outgoing queues, QoS 2 incoming packets and wills are kept
 * here, because their stored records must be found again on update.
 */
export interface SessionStoreOptions {
  dir: string
  log: Logger
  /** How long a mutation waits for others to share its fsync. Default 2 ms. */
  groupCommitMs?: number
}

interface ClientRef { id: string; clean?: boolean }
interface BrokerRef { id: string }
type OfflineSub = { clientId: string; topic: string; qos: number }

/** The parts of aedes-persistence's MemoryPersistence this store delegates to. */
interface MemoryPersistence {
  setup(broker: BrokerRef): Promise<void>
  storeRetained(packet: object): Promise<void>
  createRetainedStream(pattern: string): Readable
  createRetainedStreamCombi(patterns: string[]): Readable
  addSubscriptions(client: ClientRef, subs: object[]): Promise<void>
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>
  subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]>
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>
  subscriptionsByTopic(topic: string): Promise<OfflineSub[]>
  cleanSubscriptions(client: ClientRef): Promise<void>
  getClientList(topic: string): Readable
}

// CommonJS, and its typings are not reachable through this deep path.
const requireCjs = createRequire(import.meta.url)
const MemoryPersistence = requireCjs('aedes-persistence/asyncPersistence.js') as new () => MemoryPersistence

export interface SessionStore {
  setup(broker: BrokerRef): Promise<void>
  storeRetained(packet: StoredPacket): Promise<void>
  createRetainedStream(pattern: string): Readable
  createRetainedStreamCombi(patterns: string[]): Readable
  addSubscriptions(client: ClientRef, subs: StoredSubscription[]): Promise<void>
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>
  subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]>
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>
  subscriptionsByTopic(topic: string): Promise<OfflineSub[]>
  /** Whether any subscription is stored: while none is, subscriptionsByTopic finds nobody (unheard-publish.ts). */
  storesSubscriptions(): boolean
  cleanSubscriptions(client: ClientRef): Promise<void>
  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void>
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void>
  outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void>
  outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Promise<StoredPacket | undefined>
  outgoingStream(client: ClientRef): Readable
  incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void>
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket>
  incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void>
  cleanIncoming(client: ClientRef): Promise<void>
  putWill(client: ClientRef, packet: StoredPacket): Promise<void>
  getWill(client: ClientRef): Promise<StoredPacket | undefined>
  delWill(client: ClientRef): Promise<StoredPacket | undefined>
  streamWill(brokers?: Record<string, unknown>): Readable
  getClientList(topic: string): Readable
  /** Counts of what is held (and mirrored on disk). */
  stats(): { outgoing: number; incoming: number; wills: number }
  /** Writes what is pending and closes the database. Idempotent. */
  close(): Promise<void>
  destroy(): Promise<void>
}

/**
 * Shared answers for the per-publish calls that have nothing to do; callers
 * only read them (aedes filters the list into a new one, never changes it).
 */
const NO_SUBSCRIBERS: Promise<OfflineSub[]> = Promise.resolve(Object.freeze([]) as unknown as OfflineSub[])
const NOTHING_TO_WRITE: Promise<void> = Promise.resolve()

export async function createSessionStore(opts: SessionStoreOptions): Promise<SessionStore> {
  const log = opts.log
  const db = await openSessionDb(opts.dir, log)
  try {
    await checkFormat(db, opts.dir)
  } catch (err) {
    await db.close()
    throw err
  }
  const writer = createBatchWriter({ db, delayMs: opts.groupCommitMs ?? 2, log })
  const memory = new MemoryPersistence()
  const outgoing = createOutgoingQueues()
  const incoming = createIncomingStore()
  const wills = createWillStore()
  // topics of each client's stored subscriptions, so removals know their keys
  const subTopics = new Map<string, Set<string>>()
  let broker: BrokerRef | undefined
  let loaded = false
  let closing: Promise<void> | undefined

  /** Runs the in-memory change and the disk write side by side; settles when both have. */
  async function both(inMemory: Promise<unknown>, ops: Op[]): Promise<void> {
    await Promise.all([inMemory, writer.write(ops)])
  }

  function addSubs(client: ClientRef, subs: StoredSubscription[]): Op[] {
    const topics = subTopics.get(client.id) ?? new Set<string>()
    subTopics.set(client.id, topics)
    return subs.map((s) => {
      topics.add(s.topic)
      return { type: 'put', key: keys.sub(client.id, s.topic), value: encodeValue(pickSubscription(s)) }
    })
  }

  function dropSubs(client: ClientRef, topics: Iterable<string>): Op[] {
    const stored = subTopics.get(client.id)
    if (!stored) return []
    const ops: Op[] = []
    for (const topic of topics) {
      if (stored.delete(topic)) ops.push({ type: 'del', key: keys.sub(client.id, topic) })
    }
    if (stored.size === 0) subTopics.delete(client.id)
    return ops
  }

  const store: SessionStore = {
    async setup(b) {
      broker = b
      await memory.setup(b)
      if (loaded) return
      loaded = true
      const stats = await loadSessions(db, log, {
        retained: (packet) => memory.storeRetained(packet),
        subscriptions: async (clientId, subs) => {
          addSubs({ id: clientId }, subs)
          await memory.addSubscriptions({ id: clientId }, subs)
        },
        outgoing, incoming, wills,
      })
      log.info({ dir: opts.dir, ...stats, ...store.stats() }, 'session store loaded')
    },

    storeRetained(packet) {
      const op: Op = packet.payload === undefined || packet.payload.length === 0
        ? { type: 'del', key: keys.retained(packet.topic ?? '') }
        : { type: 'put', key: keys.retained(packet.topic ?? ''), value: encodeValue(pickPacket(packet)) }
      return both(memory.storeRetained(packet), [op])
    },
    createRetainedStream: (pattern) => memory.createRetainedStream(pattern),
    createRetainedStreamCombi: (patterns) => memory.createRetainedStreamCombi(patterns),

    addSubscriptions(client, subs) {
      return both(memory.addSubscriptions(client, subs), addSubs(client, subs))
    },
    removeSubscriptions(client, topics) {
      return both(memory.removeSubscriptions(client, topics), dropSubs(client, topics))
    },
    cleanSubscriptions(client) {
      return both(memory.cleanSubscriptions(client), dropSubs(client, [...subTopics.get(client.id) ?? []]))
    },
    subscriptionsByClient: (client) => memory.subscriptionsByClient(client),
    // aedes asks this for every QoS 1 publish, to queue it for offline subscribers. With no
    // stored subscription at all (an edge whose devices only publish) there is nothing to
    // match: answer without walking the topic through the subscription tree.
    subscriptionsByTopic: (topic) => (subTopics.size === 0 ? NO_SUBSCRIBERS : memory.subscriptionsByTopic(topic)),
    storesSubscriptions: () => subTopics.size > 0,
    countOffline: () => memory.countOffline(),
    getClientList: (topic) => memory.getClientList(topic),

    outgoingEnqueue(sub, packet) {
      return writer.write([outgoing.enqueue(sub.clientId, packet)])
    },
    outgoingEnqueueCombi(subs, packet) {
      if (subs.length === 0) return NOTHING_TO_WRITE
      return writer.write(subs.map((sub) => outgoing.enqueue(sub.clientId, packet)))
    },
    async outgoingUpdate(client, packet) {
      const op = outgoing.update(client.id, packet)
      // A QoS 2 messageId or a PUBREL must be on disk before it goes out, or a
      // restart would deliver the message twice; a QoS 1 re-send is allowed.
      if (packet.cmd === 'pubrel' || packet.qos === 2) return writer.write([op])
      writer.writeLater([op])
    },
    async outgoingClearMessageId(client, packet) {
      const cleared = outgoing.clear(client.id, packet.messageId)
      if (!cleared) return undefined
      // a lost delete re-sends the packet after a restart: no need to wait
      writer.writeLater([cleared.op])
      return cleared.packet
    },
    outgoingStream: (client) => Readable.from(outgoing.list(client.id)),

    async incomingStorePacket(client, packet) {
      return writer.write(incoming.store(client.id, packet, client.clean !== true))
    },
    async incomingGetPacket(client, packet) {
      const found = incoming.get(client.id, packet.messageId)
      if (!found) throw new Error('no such packet')
      return found
    },
    async incomingDelPacket(client, packet) {
      return writer.write(incoming.del(client.id, packet.messageId))
    },
    async cleanIncoming(client) {
      return writer.write(incoming.clean(client.id))
    },

    async putWill(client, packet) {
      if (!broker) throw new OutpostError(ErrorCodes.SESSION_STORE_CLOSED, 'session store: setup() was not called')
      packet.brokerId = broker.id
      packet.clientId = client.id
      return writer.write([wills.put(client.id, packet)])
    },
    async getWill(client) {
      return wills.get(client.id)
    },
    async delWill(client) {
      const { will, ops } = wills.del(client.id)
      await writer.write(ops)
      return will
    },
    streamWill: (brokers = {}) => Readable.from(wills.orphans(brokers)),

    stats: () => ({ outgoing: outgoing.size, incoming: incoming.size, wills: wills.size }),
    close() {
      closing ??= (async () => {
        await writer.close()
        await db.close()
      })()
      return closing
    },
    destroy: () => store.close(),
  }
  return store
}
