import { Writable } from 'node:stream'
import mqtt from 'mqtt'
import t from 'tap'
import { parseConfig } from '../src/config/index.js'
import { startGateway } from '../src/gateway.js'
import { createLogger } from '../src/observability/log.js'
import { captureLog } from './helpers/log.js'

t.test('without an upstream the gateway stores events and says it is buffering', async (t) => {
  const dir = t.testdir()
  const config = parseConfig('broker:\n  host: 127.0.0.1\n  port: 0\n', { source: 'test.yaml', env: { OUTPOST_DATA_DIR: dir } })
  const cap = captureLog()
  const gw = await startGateway({ config, log: cap.log })
  t.teardown(() => gw.stop())
  t.equal(cap.find('no upstream configured').length, 1)
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.port}`, { protocolVersion: 4, clientId: 'sensor-1' })
  await client.publishAsync('sensors/t', 'a', { qos: 1 })
  await client.publishAsync('sensors/t', 'b', { qos: 2 })
  await client.endAsync()
  const stats = gw.stats()
  t.equal(stats.spool.pending, 2)
  t.equal(stats.ingest.stored, 2)
  t.equal(stats.uplink, null)
  const events = await gw.spool.readAfter(-1, 10)
  t.same(events.map((e) => e.id), ['outpost-1-0', 'outpost-1-1'], 'ids use the default gateway id and the first epoch')
})

t.test('a port in use is a typed error, and nothing is left open', async (t) => {
  const dir = t.testdir()
  const first = await startGateway({ config: parseConfig('broker:\n  host: 127.0.0.1\n  port: 0\n', { source: 'a.yaml', env: { OUTPOST_DATA_DIR: `${dir}/a` } }), log: captureLog().log })
  t.teardown(() => first.stop())
  const config = parseConfig(`broker:\n  host: 127.0.0.1\n  port: ${first.port}\n`, { source: 'b.yaml', env: { OUTPOST_DATA_DIR: `${dir}/b` } })
  await t.rejects(startGateway({ config, log: captureLog().log }), { code: 'OUTPOST_BROKER_LISTEN' })
  // The failed start closed its spool: the same data dir opens again.
  const again = await startGateway({ config: parseConfig('broker:\n  host: 127.0.0.1\n  port: 0\n', { source: 'b.yaml', env: { OUTPOST_DATA_DIR: `${dir}/b` } }), log: captureLog().log })
  await again.stop()
})

t.test('two gateways on one data directory: the second is refused', async (t) => {
  const dir = t.testdir()
  const config = parseConfig('broker:\n  host: 127.0.0.1\n  port: 0\n', { source: 'c.yaml', env: { OUTPOST_DATA_DIR: dir } })
  const first = await startGateway({ config, log: captureLog().log })
  t.teardown(() => first.stop())
  await t.rejects(startGateway({ config, log: captureLog().log }), { code: 'OUTPOST_SPOOL_LOCKED' })
})

t.test('pretty log format writes human-readable lines', async (t) => {
  const chunks: string[] = []
  const destination = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk.toString()); cb() } })
  const log = createLogger({ level: 'info', format: 'pretty', destination })
  log.info({ pending: 3 }, 'outpost started')
  log.debug('hidden')
  await new Promise((r) => setTimeout(r, 50))
  const text = chunks.join('')
  t.match(text, /INFO/)
  t.match(text, /outpost started/)
  t.match(text, /pending: 3/)
  t.notMatch(text, /hidden/)
  t.notMatch(text, /^\{/, 'not JSON')
})

t.test('the status line comes at log.statusIntervalMs and carries the commit times since the previous line', async (t) => {
  const dir = t.testdir()
  const config = parseConfig('log:\n  statusIntervalMs: 1000\nbroker:\n  host: 127.0.0.1\n  port: 0\n', { source: 'test.yaml', env: { OUTPOST_DATA_DIR: dir } })
  const cap = captureLog()
  const gw = await startGateway({ config, log: cap.log })
  t.teardown(() => gw.stop())
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.port}`, { protocolVersion: 4, clientId: 'sensor-1' })
  for (let i = 0; i < 5; i++) await client.publishAsync('sensors/t', `v${i}`, { qos: 1 })
  await client.endAsync()
  type Commits = { writes: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null }
  const lines = async (n: number): Promise<Array<{ commits: Commits }>> => {
    for (;;) {
      const found = cap.find('status') as unknown as Array<{ commits: Commits }>
      if (found.length >= n) return found
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  // Lines up to the first one written after the publishes cover them all; the one after covers none.
  const done = cap.find('status').length
  const all = await lines(done + 2)
  const covering = all.slice(0, done + 1).map((l) => l.commits)
  const writes = covering.reduce((n, c) => n + c.writes, 0)
  // The five PUBACKed events each waited for a synced write (some may share one).
  t.ok(writes >= 1 && writes <= 5, `${writes} synced writes`)
  const busy = covering.filter((c) => c.writes > 0)
  t.ok(busy.every((c) => typeof c.p99Ms === 'number' && c.p99Ms >= 0 && c.maxMs! >= c.p50Ms!), 'a median, p99 and max in ms where there were writes')
  t.same(all[done + 1]!.commits, { writes: 0, p50Ms: null, p99Ms: null, maxMs: null }, 'nothing written since: the next line starts again')
})
