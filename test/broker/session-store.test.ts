import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Aedes, type AedesOptions } from 'aedes'
import { ClassicLevel } from 'classic-level'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { pino, type Logger } from 'pino'
import t, { type Test } from 'tap'
import { keys } from '../../src/broker/session-store-codec.js'
import { createSessionStore, type SessionStore } from '../../src/broker/session-store.js'
import { captureLog } from '../helpers/log.js'

const silent = pino({ level: 'silent' })

interface Gateway { store: SessionStore; broker: Aedes; port: number; close(): Promise<void> }

async function startGateway(t: Test, dir: string, log: Logger = silent, opts: AedesOptions = {}): Promise<Gateway> {
  const store = await createSessionStore({ dir, log })
  const broker = await Aedes.createBroker({ ...opts, persistence: store })
  const server = net.createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await store.close()
    })()
    return closed
  }
  t.teardown(close)
  return { store, broker, port: (server.address() as AddressInfo).port, close }
}

interface Received { topic: string; payload: string; retain: boolean }
interface Device { client: MqttClient; sessionPresent: boolean; messages: Received[] }

async function device(t: Test, port: number, opts: IClientOptions): Promise<Device> {
  const client = connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, ...opts })
  t.teardown(() => { client.end(true) })
  const messages: Received[] = []
  client.on('message', (topic, payload, packet) => { messages.push({ topic, payload: payload.toString(), retain: packet.retain }) })
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, sessionPresent: connack.sessionPresent, messages }
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('queued QoS 1 messages of a persistent session survive a restart, in order', async (t) => {
  const dir = t.testdir()
  const a = await startGateway(t, dir)
  const sub = await device(t, a.port, { clientId: 'q-sub', clean: false })
  await sub.client.subscribeAsync('q/#', { qos: 1 })
  await sub.client.endAsync()
  const pub = await device(t, a.port, { clientId: 'q-pub' })
  for (let i = 0; i < 20; i++) await pub.client.publishAsync(`q/${i}`, `m${i}`, { qos: 1 })
  await waitFor('20 queued', () => a.store.stats().outgoing === 20)
  await a.close()

  const b = await startGateway(t, dir)
  t.equal(b.store.stats().outgoing, 20, 'all 20 loaded')
  const again = await device(t, b.port, { clientId: 'q-sub', clean: false })
  t.equal(again.sessionPresent, true)
  await waitFor('20 delivered', () => again.messages.length >= 20)
  t.same(again.messages.map((m) => m.payload), Array.from({ length: 20 }, (_, i) => `m${i}`), 'in publish order')
  await waitFor('queue emptied by PUBACKs', () => b.store.stats().outgoing === 0)
  await again.client.endAsync()
  await b.close()

  const c = await startGateway(t, dir)
  t.equal(c.store.stats().outgoing, 0, 'acknowledged messages are gone from disk')
  const third = await device(t, c.port, { clientId: 'q-sub', clean: false })
  await new Promise((r) => setTimeout(r, 100))
  t.same(third.messages, [], 'nothing delivered twice')
})

t.test('subscriptions survive a restart; a clean session then removes them', async (t) => {
  const dir = t.testdir()
  const a = await startGateway(t, dir)
  const sub = await device(t, a.port, { clientId: 's-sub', clean: false })
  t.equal(sub.sessionPresent, false)
  await sub.client.subscribeAsync(['s/a/#', 's/b'], { qos: 1 })
  await sub.client.unsubscribeAsync('s/b')
  await sub.client.endAsync()
  await a.close()

  const b = await startGateway(t, dir)
  const loaded = await b.store.subscriptionsByClient({ id: 's-sub' })
  t.same(loaded.map((s) => [s.topic, s.qos]), [['s/a/#', 1]], 'loaded from disk')
  const again = await device(t, b.port, { clientId: 's-sub', clean: false })
  t.equal(again.sessionPresent, true, 'session present after restart')
  const pub = await device(t, b.port, { clientId: 's-pub' })
  await pub.client.publishAsync('s/a/1', 'after restart', { qos: 1 })
  await pub.client.publishAsync('s/b', 'unsubscribed', { qos: 1 })
  await pub.client.publishAsync('s/a/2', 'last', { qos: 1 })
  await waitFor('2 messages', () => again.messages.length >= 2)
  t.same(again.messages.map((m) => m.payload), ['after restart', 'last'], 'no re-subscribe needed; the unsubscribe held')
  await again.client.endAsync()
  const clean = await device(t, b.port, { clientId: 's-sub', clean: true })
  await clean.client.endAsync()
  await b.close()

  const c = await startGateway(t, dir)
  t.same(await c.store.subscriptionsByClient({ id: 's-sub' }), [], 'clean session wiped them on disk too')
})

t.test('retained messages survive a restart; an empty payload deletes one', async (t) => {
  const dir = t.testdir()
  const a = await startGateway(t, dir)
  const pub = await device(t, a.port, { clientId: 'r-pub' })
  await pub.client.publishAsync('r/keep', Buffer.from([0, 1, 2, 255]), { qos: 1, retain: true })
  await pub.client.publishAsync('r/drop', 'x', { qos: 0, retain: true })
  await pub.client.publishAsync('r/drop', '', { qos: 1, retain: true })
  await pub.client.endAsync()
  await a.close()

  const b = await startGateway(t, dir)
  const sub = await device(t, b.port, { clientId: 'r-sub' })
  await sub.client.subscribeAsync('r/#', { qos: 1 })
  await waitFor('retained', () => sub.messages.length >= 1)
  await new Promise((r) => setTimeout(r, 50))
  t.same(sub.messages, [{ topic: 'r/keep', payload: Buffer.from([0, 1, 2, 255]).toString(), retain: true }])
})

t.test('an unreadable record is logged with its key and skipped; the rest loads', async (t) => {
  const dir = t.testdir()
  const a = await startGateway(t, dir)
  for (const id of ['c-1', 'c-2']) {
    const d = await device(t, a.port, { clientId: id, clean: false })
    await d.client.subscribeAsync(`c/${id}`, { qos: 1 })
    await d.client.endAsync()
  }
  await a.close()

  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.put(keys.sub('c-1', 'c/c-1'), Buffer.from([0xff, 0x00, 0x13]))
  await db.put(keys.retained('c/odd'), Buffer.from([0x01]))
  await db.put('zz-not-ours', Buffer.from([0x01]))
  await db.close()

  const cap = captureLog()
  const b = await startGateway(t, dir, cap.log)
  const warned = cap.find('skipped an unreadable record').map((l) => l.key)
  t.same(warned.sort(), [keys.sub('c-1', 'c/c-1'), keys.retained('c/odd'), 'zz-not-ours'].sort(), 'each bad key named')
  t.match(cap.find('session store loaded'), [{ skipped: 3 }])
  t.equal((await device(t, b.port, { clientId: 'c-1', clean: false })).sessionPresent, false, 'the damaged session is gone')
  t.equal((await device(t, b.port, { clientId: 'c-2', clean: false })).sessionPresent, true, 'the other one loaded')
})

t.test('offline subscribers by topic: none stored, then added, removed, cleaned and loaded from disk', async (t) => {
  const dir = t.testdir()
  let store = await createSessionStore({ dir, log: silent, groupCommitMs: 0 })
  t.teardown(() => store.close())
  await store.setup({ id: 'broker-1' })
  const byTopic = async (topic: string): Promise<string[]> => (await store.subscriptionsByTopic(topic)).map((s) => `${s.clientId} ${s.topic}`)
  const none = await store.subscriptionsByTopic('a/1')
  t.same(none, [], 'nothing stored: no subscriber')
  t.ok(Object.isFrozen(none), 'the shared empty answer cannot be changed by a caller')
  const packet = { cmd: 'publish' as const, topic: 'a/1', payload: Buffer.from('x'), qos: 1 as const, brokerId: 'broker-1', brokerCounter: 1 }
  await store.outgoingEnqueueCombi([], packet)
  t.same(store.stats().outgoing, 0, 'nobody to queue for: nothing queued')

  await store.addSubscriptions({ id: 'c1', clean: false }, [{ topic: 'a/+', qos: 1 }])
  t.same(await byTopic('a/1'), ['c1 a/+'], 'a stored subscription is found at once')
  t.same(await byTopic('b/1'), [], 'and only for its topics')
  await store.addSubscriptions({ id: 'c2', clean: false }, [{ topic: 'a/#', qos: 1 }])
  await store.removeSubscriptions({ id: 'c1', clean: false }, ['a/+'])
  t.same(await byTopic('a/1'), ['c2 a/#'], 'a removed one is gone, the other stays')
  await store.close()

  store = await createSessionStore({ dir, log: silent, groupCommitMs: 0 })
  await store.setup({ id: 'broker-1' })
  t.same(await byTopic('a/1'), ['c2 a/#'], 'loaded from disk, found by topic')
  await store.cleanSubscriptions({ id: 'c2', clean: true })
  t.same(await byTopic('a/1'), [], 'cleaned: none left')
})

t.test('store API: QoS 2 state, PUBREL replacement and wills survive close and reopen', async (t) => {
  const dir = t.testdir()
  const broker1 = { id: 'broker-1' }
  let store = await createSessionStore({ dir, log: silent, groupCommitMs: 0 })
  t.teardown(() => store.close())
  await store.setup(broker1)
  const client = { id: 'api/1%', clean: false }
  await store.incomingStorePacket(client, { cmd: 'publish', topic: 'a', payload: Buffer.from('in'), qos: 2, messageId: 7 })
  await store.incomingStorePacket({ id: 'clean', clean: true }, { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 2, messageId: 8 })
  await store.outgoingEnqueueCombi([{ clientId: client.id }], { cmd: 'publish', topic: 'o', payload: Buffer.from('1'), qos: 2, brokerId: 'broker-1', brokerCounter: 1 })
  await store.outgoingEnqueue({ clientId: client.id }, { cmd: 'publish', topic: 'o', payload: Buffer.from('2'), qos: 1, brokerId: 'broker-1', brokerCounter: 2 })
  await store.outgoingUpdate(client, { cmd: 'publish', topic: 'o', qos: 2, brokerId: 'broker-1', brokerCounter: 1, messageId: 41 })
  await store.outgoingUpdate(client, { cmd: 'pubrel', messageId: 41 })
  await t.rejects(store.outgoingUpdate(client, { cmd: 'publish', brokerId: 'broker-1', brokerCounter: 99, messageId: 3 }), /no such packet/)
  await store.putWill(client, { topic: 'will', payload: Buffer.from('bye'), qos: 1, retain: false })
  await store.putWill({ id: 'gone' }, { topic: 'will', payload: Buffer.from('x'), qos: 0, retain: false })
  await store.delWill({ id: 'gone' })
  await store.close()
  await store.close()

  store = await createSessionStore({ dir, log: silent })
  await store.setup({ id: 'broker-2' })
  t.same(store.stats(), { outgoing: 2, incoming: 1, wills: 1 })
  t.match(await store.incomingGetPacket(client, { messageId: 7 }), { topic: 'a', messageId: 7, qos: 2 })
  await t.rejects(store.incomingGetPacket({ id: 'clean' }, { messageId: 8 }), /no such packet/, 'clean session state is not kept')
  const queued = await store.outgoingStream(client).toArray()
  t.match(queued, [{ cmd: 'pubrel', messageId: 41 }, { topic: 'o', brokerCounter: 2 }], 'PUBREL took its PUBLISH\'s place')
  const wills = await store.streamWill({ 'broker-2': Date.now() }).toArray()
  t.match(wills, [{ clientId: client.id, brokerId: 'broker-1', topic: 'will' }], 'will keeps the id of the broker that stored it')
  t.same(await store.streamWill({ 'broker-1': Date.now() }).toArray(), [], 'a live broker\'s wills are not orphans')
  await store.incomingDelPacket(client, { messageId: 7 })
  t.match(await store.outgoingClearMessageId(client, { messageId: 41 }), { cmd: 'pubrel' })
  await store.close()

  store = await createSessionStore({ dir, log: silent })
  await store.setup({ id: 'broker-3' })
  t.same(store.stats(), { outgoing: 1, incoming: 0, wills: 1 })
  const left = await store.outgoingStream(client).toArray()
  t.match(left, [{ brokerCounter: 2 }])
  await store.outgoingEnqueue({ clientId: client.id }, { cmd: 'publish', topic: 'o', payload: Buffer.from('3'), qos: 1, brokerId: 'broker-3', brokerCounter: 1 })
  await store.close()

  store = await createSessionStore({ dir, log: silent })
  await store.setup({ id: 'broker-4' })
  const order = (await store.outgoingStream(client).toArray()) as Array<{ payload: Buffer }>
  t.same(order.map((p) => p.payload.toString()), ['2', '3'], 'a new run appends behind the old queue')
})

const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))
t.test('after kill -9: queued messages, subscriptions and the dead run\'s wills come back', {
  skip: tsLoader ? false : 'needs the tap TypeScript loader to run the child',
}, async (t) => {
  const loader = tsLoader ?? ''
  const dir = t.testdir()
  const fixture = fileURLToPath(new URL('./fixtures/session-store-child.ts', import.meta.url))
  const child = spawn(process.execPath, [loader, fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const [line] = await once(child.stdout, 'data') as [Buffer]
  const { port } = JSON.parse(line.toString()) as { port: number; brokerId: string }

  const sub = await device(t, port, { clientId: 'k-sub', clean: false })
  await sub.client.subscribeAsync('k/#', { qos: 1 })
  await sub.client.endAsync()
  await device(t, port, {
    clientId: 'k-will', clean: true,
    will: { topic: 'k/will', payload: Buffer.from('lost'), qos: 1, retain: true },
  })
  const pub = await device(t, port, { clientId: 'k-pub' })
  // QoS 2: PUBREC comes only after aedes enqueued the message for k-sub
  for (let i = 0; i < 5; i++) await pub.client.publishAsync(`k/${i}`, `m${i}`, { qos: 2 })
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited

  const b = await startGateway(t, dir, silent, { heartbeatInterval: 50 })
  const again = await device(t, b.port, { clientId: 'k-sub', clean: false })
  t.equal(again.sessionPresent, true)
  await waitFor('5 queued messages and the will', () => again.messages.length >= 6)
  // The orphaned will is a live publish: aedes may deliver it while it is
  // still streaming the queued messages, so it can land anywhere among them.
  const queued = again.messages.filter((m) => m.topic !== 'k/will')
  t.same(queued.map((m) => m.payload), ['m0', 'm1', 'm2', 'm3', 'm4'], 'queued messages, in order')
  const wills = again.messages.filter((m) => m.topic === 'k/will')
  t.equal(wills.length, 1, 'the dead run\'s will was published, once')
  t.match(wills[0], { topic: 'k/will', payload: 'lost' })
  await waitFor('will deleted', () => b.store.stats().wills === 0)
})
