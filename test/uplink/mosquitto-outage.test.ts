import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createUplink } from '../../src/uplink/uplink.js'
import type { UplinkOptions } from '../../src/uplink/types.js'
import { freePort } from '../helpers/free-port.js'
import { captureLog } from '../helpers/log.js'
import { createMemorySpool, type MemorySpool } from '../helpers/memory-spool.js'
import { collect, startMosquitto, type Received } from '../helpers/mosquitto.js'
import { drained, seqOf, uplinkOptions, waitStatus } from '../helpers/uplink-harness.js'

/** Outages against a real Mosquitto: down at start, restarted mid-stream, black-holed link. */

/** This file's backoff is capped lower than the harness default (400 ms). */
const reconnect = { initialDelayMs: 50, maxDelayMs: 300, multiplier: 2, jitter: 0.2 }
const outageOptions = (url: string, over: Partial<UplinkOptions> = {}): UplinkOptions => uplinkOptions(url, { reconnect, ...over })
const drainMs = 20_000
const msgSeq = (m: Received): number => seqOf(m.userProperties['outpost-id'])

/**
 * Per device, what arrived must be the device's events in order, where a
 * re-send may start again at an earlier event (a repeated suffix) but never
 * skips or reorders: every message is either the successor of the previous
 * one or a jump back to an event already seen; a first sighting is always the
 * next unseen event. Returns the problems found and the duplicate count.
 */
function checkOrder(messages: Received[], appended: Map<string, number[]>): { problems: string[]; duplicates: number } {
  const problems: string[] = []
  let duplicates = 0
  const byClient = new Map<string, number[]>()
  for (const m of messages) {
    const client = String(m.userProperties['outpost-client'])
    const list = byClient.get(client) ?? []
    list.push(msgSeq(m))
    byClient.set(client, list)
  }
  for (const [client, expected] of appended) {
    const position = new Map(expected.map((seq, i) => [seq, i]))
    const got = byClient.get(client) ?? []
    let maxSeen = -1
    let previous = -1
    for (const seq of got) {
      const i = position.get(seq)
      if (i === undefined) {
        problems.push(`${client}: seq ${seq} is not one of its events`)
        continue
      }
      if (i <= maxSeen) {
        duplicates++
        if (i > previous + 1) problems.push(`${client}: re-send of ${seq} skips ahead inside a replay`)
      } else if (i !== maxSeen + 1 || previous !== maxSeen) {
        problems.push(`${client}: seq ${seq} arrived out of order (last new was position ${maxSeen})`)
      }
      maxSeen = Math.max(maxSeen, i)
      previous = i
    }
    if (maxSeen !== expected.length - 1) problems.push(`${client}: only ${maxSeen + 1} of ${expected.length} events arrived`)
  }
  return { problems, duplicates }
}

t.test('checkOrder itself: accepts a repeated suffix, catches gaps, reordering and skipping replays', async (t) => {
  const msg = (client: string, seq: number): Received => ({
    topic: 't', payload: Buffer.alloc(0), retain: false, dup: false,
    userProperties: { 'outpost-id': `gw-1-${seq}`, 'outpost-client': client },
  })
  const appended = new Map([['a', [0, 2, 4, 6]], ['b', [1, 3, 5]]])
  const run = (a: number[], b: number[]) => checkOrder([...a.map((s) => msg('a', s)), ...b.map((s) => msg('b', s))], appended)
  t.same(run([0, 2, 4, 6], [1, 3, 5]), { problems: [], duplicates: 0 })
  t.same(run([0, 2, 4, 2, 4, 6], [1, 3, 1, 3, 5]), { problems: [], duplicates: 4 })
  t.match(run([0, 4, 2, 6], [1, 3, 5]).problems, [/seq 4 arrived out of order/])
  t.match(run([0, 2, 4, 0, 4, 6], [1, 3, 5]).problems, [/skips ahead inside a replay/])
  t.match(run([0, 2, 4], [1, 3, 5]).problems, [/only 3 of 4/])
})

function appendRound(spool: MemorySpool, n: number, clients: string[], appended: Map<string, number[]>): void {
  for (let i = 0; i < n; i++) {
    const clientId = clients[i % clients.length]!
    const event = spool.append({ clientId, topic: `sensors/${clientId}` })
    const list = appended.get(clientId) ?? []
    list.push(event.seq)
    appended.set(clientId, list)
  }
}

t.test('upstream down at start, then started: everything arrives, in order, one warn', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-down-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  // A persistent subscriber session exists before the outage, so messages
  // published while the subscriber is still reconnecting are queued for it.
  let broker = await startMosquitto({ port, dir, persistence: true })
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  await broker.stop()

  const spool = createMemorySpool()
  const appended = new Map<string, number[]>()
  const captured = captureLog()
  const uplink = createUplink({ options: outageOptions(`mqtt://127.0.0.1:${port}`), gatewayId: 'gw', spool, log: captured.log })
  t.teardown(() => uplink.stop())
  uplink.start()
  appendRound(spool, 300, ['a', 'b', 'c'], appended)
  await waitStatus(uplink, 'backoff')
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.equal(captured.find('buffering events in the spool').length, 1, 'one warn for the outage, not one per retry')
  t.match(captured.find('buffering events in the spool')[0], { pending: 300, reason: /ECONNREFUSED/ })
  t.ok(captured.find('reconnect failed').length >= 2, 'retries log at debug')

  broker = await startMosquitto({ port, dir, persistence: true })
  t.teardown(() => broker.stop())
  await waitStatus(uplink, 'connected')
  await drained(spool, drainMs)
  await sub.waitUntil((m) => new Set(m.map(msgSeq)).size === 300)
  const { problems, duplicates } = checkOrder(sub.messages, appended)
  t.same(problems, [])
  t.equal(duplicates, 0)
  t.equal(captured.find('connected again').length, 1)
  t.equal(uplink.stats().reconnects, 0, 'first successful connection')
})

t.test('upstream restarted mid-stream: at least once, per-device order, duplicates only as a repeated suffix', async (t) => {
  const broker = await startMosquitto({ persistence: true })
  t.teardown(() => broker.stop())
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  const spool = createMemorySpool()
  const appended = new Map<string, number[]>()
  const clients = ['a', 'b', 'c', 'd']
  appendRound(spool, 3000, clients, appended)
  const captured = captureLog()
  const uplink = createUplink({ options: outageOptions(broker.url), gatewayId: 'gw', spool, log: captured.log })
  t.teardown(() => uplink.stop())
  uplink.start()
  await sub.waitForCount(600)
  await broker.restart()
  appendRound(spool, 1000, clients, appended)
  await drained(spool, drainMs)
  await sub.waitUntil((m) => new Set(m.map(msgSeq)).size === 4000, 20_000)

  const { problems, duplicates } = checkOrder(sub.messages, appended)
  t.same(problems, [], 'no reordering, no gap')
  // With no gap and no reordering, a message is a duplicate exactly when its
  // position is at or below the highest seen so far: its id was seen before.
  const distinct = new Set(sub.messages.map(msgSeq))
  t.equal(distinct.size, 4000, 'every event arrived at least once')
  t.equal(sub.messages.length, distinct.size + duplicates, 'every extra message is a re-send of a seen id')
  t.comment(`duplicates after the restart: ${duplicates}`)
  t.ok(uplink.stats().reconnects >= 1)
  t.equal(captured.find('uplink down; buffering').length, 1, 'one outage, one warn')
  t.equal(uplink.stats().acked, 4000)
})

/** A TCP relay that can black-hole: connections stay open, bytes go nowhere. */
async function startRelay(targetPort: number): Promise<{ port: number; freeze(): void; thaw(): void; close(): Promise<void> }> {
  let frozen = false
  const pairs: Array<{ a: Socket; b: Socket; dead: boolean }> = []
  const server = createServer((a) => {
    const b = netConnect({ port: targetPort, host: '127.0.0.1' })
    const pair = { a, b, dead: frozen }
    pairs.push(pair)
    a.on('data', (chunk) => { if (!pair.dead) b.write(chunk) })
    b.on('data', (chunk) => { if (!pair.dead) a.write(chunk) })
    a.on('error', () => b.destroy())
    b.on('error', () => a.destroy())
    a.on('close', () => b.destroy())
    b.on('close', () => a.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('relay has no port')
  return {
    port: address.port,
    freeze() {
      frozen = true
      for (const pair of pairs) pair.dead = true
    },
    thaw() { frozen = false },
    close() {
      for (const pair of pairs) { pair.a.destroy(); pair.b.destroy() }
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

t.test('black-holed link (TCP stays open): no PUBACK in time, reconnect, deliver after it heals', async (t) => {
  const broker = await startMosquitto()
  t.teardown(() => broker.stop())
  const relay = await startRelay(broker.port)
  t.teardown(() => relay.close())
  const sub = await collect(broker.url, 'outpost/#')
  t.teardown(() => sub.close())
  const spool = createMemorySpool()
  const appended = new Map<string, number[]>()
  const captured = captureLog()
  const uplink = createUplink({
    options: outageOptions(`mqtt://127.0.0.1:${relay.port}`, { ackTimeoutMs: 400, connectTimeoutMs: 400, keepaliveSec: 60 }),
    gatewayId: 'gw',
    spool,
    log: captured.log,
  })
  t.teardown(() => uplink.stop())
  uplink.start()
  appendRound(spool, 100, ['a', 'b'], appended)
  await sub.waitForCount(100)
  await drained(spool, drainMs)

  relay.freeze()
  appendRound(spool, 100, ['a', 'b'], appended)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.match(captured.find('not working; closing it')[0], { reason: /no PUBACK within 400 ms/ })
  t.equal(spool.stats().pending, 100, 'nothing acked while black-holed; all still in the spool')
  t.match(captured.find('still down')[0], { reason: 'connack timeout' }, 'reconnects into the black hole time out')
  t.equal(captured.find('uplink down; buffering').length, 1)

  relay.thaw()
  await drained(spool, drainMs)
  await sub.waitUntil((m) => new Set(m.map(msgSeq)).size === 200)
  const { problems } = checkOrder(sub.messages, appended)
  t.same(problems, [])
  t.ok(uplink.stats().reconnects >= 1)
})
