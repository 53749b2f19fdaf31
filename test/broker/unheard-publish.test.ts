import mqtt from 'mqtt'
import t, { type Test } from 'tap'
import { startDeviceBroker } from '../../src/broker/device-broker.js'
import { createIngest } from '../../src/broker/ingest.js'
import { createSessionStore } from '../../src/broker/session-store.js'
import { createForwardPredicate } from '../../src/broker/topic-filter.js'
import { skipUnheardPublishes, type PublishedPacket, type PublishingBroker } from '../../src/broker/unheard-publish.js'
import { openSpool } from '../../src/spool/spool.js'
import { captureLog } from '../helpers/log.js'

/** A broker double: records which path each publish took. */
function fakeBroker(opts: { matches?: (topic: string) => unknown[]; closed?: boolean; withMatcher?: boolean } = {}) {
  const calls: string[] = []
  const asked: string[] = []
  const matcher = {
    match: (topic: string) => {
      asked.push(topic)
      return opts.matches?.(topic) ?? []
    },
    add: () => undefined,
    remove: () => undefined,
  }
  const broker: PublishingBroker = {
    publish: (packet, _client, done) => {
      calls.push(`aedes ${packet.topic}`)
      done?.()
    },
    published: (packet, _client, done) => {
      calls.push(`published ${packet.topic}`)
      done(null)
    },
    emit: (_event, packet) => {
      calls.push(`event ${packet.topic}`)
      return true
    },
    maxTopicLevels: 3,
    mq: opts.withMatcher === false ? {} : { _matcher: matcher, closed: opts.closed === true },
  }
  return { broker, calls, asked, matcher }
}

const device = { id: 'dev-1' }
const pkt = (topic: string, over: Partial<PublishedPacket> = {}): PublishedPacket => ({ topic, qos: 1, retain: false, ...over })
const publish = (broker: PublishingBroker, packet: PublishedPacket, client: unknown = device): Promise<void> =>
  new Promise((resolve, reject) => broker.publish(packet, client, (err) => (err ? reject(err) : resolve())))

t.test('a publish nobody listens to runs only the published hook and the event', async (t) => {
  const { broker, calls } = fakeBroker()
  t.equal(skipUnheardPublishes(broker, { storesSubscriptions: () => false }), true)
  await publish(broker, pkt('a/b'))
  await publish(broker, pkt('a/c', { qos: 0 }))
  t.same(calls, ['published a/b', 'event a/b', 'published a/c', 'event a/c'])
})

t.test('aedes\' own path for everything the shortcut cannot answer', async (t) => {
  let stored = false
  const { broker, calls } = fakeBroker({ matches: (topic) => (topic === 'heard' ? [() => undefined] : []) })
  skipUnheardPublishes(broker, { storesSubscriptions: () => stored })
  await publish(broker, pkt('heard'))
  await publish(broker, pkt('r', { retain: true }))
  await publish(broker, pkt('q2', { qos: 2 }))
  await publish(broker, pkt('nobody'), null)
  await publish(broker, pkt('a/b/c/d'))
  stored = true
  await publish(broker, pkt('offline'))
  t.same(calls, ['aedes heard', 'aedes r', 'aedes q2', 'aedes nobody', 'aedes a/b/c/d', 'aedes offline'])
})

t.test('a closed emitter keeps aedes\' error path', async (t) => {
  const { broker, calls } = fakeBroker({ closed: true })
  skipUnheardPublishes(broker, { storesSubscriptions: () => false })
  await publish(broker, pkt('a'))
  t.same(calls, ['aedes a'])
})

t.test('a topic is matched once, again after any subscription changes', async (t) => {
  const { broker, asked, matcher } = fakeBroker()
  skipUnheardPublishes(broker, { storesSubscriptions: () => false })
  await publish(broker, pkt('a'))
  await publish(broker, pkt('a'))
  t.same(asked, ['a'])
  matcher.add()
  await publish(broker, pkt('a'))
  matcher.remove()
  await publish(broker, pkt('a'))
  t.same(asked, ['a', 'a', 'a'])
})

t.test('nothing changes without a topic trie or a persistence that can answer', async (t) => {
  const a = fakeBroker({ withMatcher: false })
  t.equal(skipUnheardPublishes(a.broker, { storesSubscriptions: () => false }), false)
  const b = fakeBroker()
  t.equal(skipUnheardPublishes(b.broker, {}), false)
  t.equal(skipUnheardPublishes(b.broker, undefined), false)
  await publish(a.broker, pkt('x'))
  await publish(b.broker, pkt('x'))
  t.same([...a.calls, ...b.calls], ['aedes x', 'aedes x'])
})

/** The device broker with the durable session store, as the gateway runs it. */
async function edge(t: Test) {
  const cap = captureLog()
  const spool = await openSpool({ dir: t.testdir() + '/spool', gatewayId: 'gw', log: cap.log })
  const sessions = await createSessionStore({ dir: t.testdir() + '/sessions', log: cap.log, groupCommitMs: 0 })
  const ingest = createIngest({ spool, forwards: createForwardPredicate({ include: ['#'], exclude: [] }), maxPayloadBytes: 1024, storeQos0: true, log: cap.log })
  const broker = await startDeviceBroker({
    host: '127.0.0.1', port: 0, maxClientIdLength: 64, maxPayloadBytes: 1024, authorizePublish: ingest.authorizePublish, log: cap.log, persistence: sessions,
  })
  t.teardown(async () => {
    await broker.close()
    await spool.close()
  })
  return { url: `mqtt://127.0.0.1:${broker.address.port}`, spool }
}

function received(client: mqtt.MqttClient): string[] {
  const got: string[] = []
  client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
  return got
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100))

t.test('a device subscribed at the edge gets what it subscribed to, and only that', async (t) => {
  const { url, spool } = await edge(t)
  const sub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'listener' })
  const got = received(sub)
  const pub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'sensor' })
  await pub.publishAsync('room/1', 'before', { qos: 1 })
  await sub.subscribeAsync('room/#', { qos: 1 })
  await pub.publishAsync('room/1', 'one', { qos: 1 })
  await pub.publishAsync('hall/1', 'elsewhere', { qos: 1 })
  await pub.publishAsync('room/2', 'two', { qos: 0 })
  await settle()
  t.same(got, ['room/1 one', 'room/2 two'])
  await sub.unsubscribeAsync('room/#')
  await pub.publishAsync('room/1', 'after', { qos: 1 })
  await settle()
  t.same(got, ['room/1 one', 'room/2 two'], 'nothing after the unsubscribe')
  const stored = await spool.readAfter(-1, 10)
  t.same(stored.map((e) => Buffer.from(e.payload).toString()), ['before', 'one', 'elsewhere', 'two', 'after'], 'every event stored for the uplink either way')
  await sub.endAsync()
  await pub.endAsync()
})

t.test('a persistent subscriber that is away gets its QoS 1 messages when it is back', async (t) => {
  const { url } = await edge(t)
  const sub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'away', clean: false })
  await sub.subscribeAsync('room/#', { qos: 1 })
  await sub.endAsync()
  const pub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'sensor' })
  await pub.publishAsync('room/3', 'while away', { qos: 1 })
  await pub.endAsync()
  const back = mqtt.connect(url, { protocolVersion: 4, clientId: 'away', clean: false })
  const got = received(back)
  await new Promise<void>((resolve) => back.once('connect', () => resolve()))
  await settle()
  t.same(got, ['room/3 while away'])
  await back.endAsync()
})
