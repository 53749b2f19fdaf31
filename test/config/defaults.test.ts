import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig, parseConfig, type OutpostConfig } from '../../src/config/index.js'

const SHIPPED = new URL('../../config/outpost.yaml', import.meta.url)

const DEFAULTS: OutpostConfig = {
  gateway: { id: 'outpost', dataDir: './data' },
  log: { level: 'info', format: 'json', statusIntervalMs: 60000 },
  broker: { host: '0.0.0.0', port: 1883, maxPayloadBytes: 262144, maxClientIdLength: 128 },
  spool: {
    groupCommitMs: 0, maxBatch: 1024, compactEveryAcks: 50000,
    maxBytes: 0, maxAgeSec: 0, minFreeBytes: 33554432, onFull: 'reject', holdMs: 10000, maxHeld: 1000, checkIntervalMs: 5000,
  },
  forward: { include: ['#'], exclude: [], qos0: true },
  upstream: null,
  contracts: { dir: null, unknownTopics: 'dead-letter', deadLetter: { maxEntries: 100000, maxBytes: 268435456 } },
}

const parse = (text: string) => parseConfig(text, { source: 'test.yaml' })

t.test('an empty document is all defaults', async (t) => {
  t.strictSame(parse(''), DEFAULTS)
  t.strictSame(parse('# only a comment\n\n   # and another\n'), DEFAULTS)
  t.strictSame(parse('{}'), DEFAULTS)
})

t.test('a section left empty counts as missing; an empty upstream means none', async (t) => {
  t.strictSame(parse('broker:\nspool:\nupstream:\n'), DEFAULTS)
})

t.test('given keys are kept, siblings defaulted', async (t) => {
  const config = parse('broker:\n  port: 1884\nforward:\n  exclude: [a/b]\n')
  t.equal(config.broker.port, 1884)
  t.equal(config.broker.host, '0.0.0.0')
  t.strictSame(config.forward, { include: ['#'], exclude: ['a/b'], qos0: true })
})

t.test('an upstream object gets every default but url', async (t) => {
  const config = parse('upstream:\n  url: mqtt://cloud:1883\n  reconnect: { maxDelayMs: 60000 }\n  tls: {}\n')
  t.strictSame(config.upstream, {
    url: 'mqtt://cloud:1883',
    protocolVersion: 5,
    clientId: null,
    username: null,
    password: null,
    clean: false,
    keepaliveSec: 30,
    connectTimeoutMs: 10000,
    topicTemplate: 'outpost/{gatewayId}/{topic}',
    qos: 1,
    window: 1024,
    envelope: 'auto',
    reconnect: { initialDelayMs: 500, maxDelayMs: 60000, multiplier: 2, jitter: 0.5 },
    ackTimeoutMs: 30000,
    rejected: { maxAttempts: 5, retryDelayMs: 5000 },
    tls: { ca: null, cert: null, key: null, servername: null, rejectUnauthorized: true },
    batch: { maxEvents: 0, maxBytes: 131072, lingerMs: 20, window: 16, topic: 'outpost/{gatewayId}/batch' },
    rateLimit: { eventsPerSec: 0, bytesPerSec: 0 },
    historicalAfterMs: null,
    poisonAfterDrops: 3,
  })
})

t.test('the shipped config/outpost.yaml loads and spells out the defaults', async (t) => {
  const config = loadConfig({ file: SHIPPED.pathname })
  t.strictSame(config, DEFAULTS)
})

t.test('the commented upstream example in the shipped config is valid', async (t) => {
  const lines = readFileSync(SHIPPED, 'utf8').split('\n')
  const start = lines.indexOf('# upstream:')
  const end = lines.indexOf('upstream: null')
  t.ok(start > 0 && end > start, 'the example block is where the test expects it')
  const example = lines.slice(start, end).map((line) => line.replace(/^# ?/, '')).join('\n')
  const config = parse(example)
  t.equal(config.upstream?.url, 'mqtts://broker.example.com:8883')
  t.strictSame({ ...config.upstream, url: undefined }, { ...parse('upstream: { url: mqtt://x }').upstream, url: undefined })
})

t.test('the result is deeply frozen', async (t) => {
  const config = parse('upstream:\n  url: mqtt://cloud\n  tls: {}\n')
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.broker))
  t.ok(Object.isFrozen(config.forward.include))
  t.ok(Object.isFrozen(config.upstream?.reconnect))
  t.ok(Object.isFrozen(config.upstream?.tls))
  t.throws(() => {
    (config.broker as { port: number }).port = 1
  }, TypeError)
  t.throws(() => (config.forward.include as string[]).push('x'), TypeError)
})

t.test('each parse returns its own objects', async (t) => {
  const a = parse('')
  const b = parse('')
  t.not(a.forward.include, b.forward.include)
  t.not(a, b)
})
