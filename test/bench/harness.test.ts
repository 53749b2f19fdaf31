import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { encode } from 'cbor-x'
import t from 'tap'
import { rawConnect } from '../../bench/harness/client.js'
import { runLoad } from '../../bench/harness/load.js'
import { add, metric, type ScenarioResult } from '../../bench/harness/metrics.js'
import { shippedLaunch } from '../../bench/harness/outpost.js'
import { fillPayload, PAYLOAD_BYTES, readPayload, writePayload } from '../../bench/harness/payload.js'
import { sample } from '../../bench/harness/proc.js'
import { renderReport } from '../../bench/harness/report.js'
import { median, percentile } from '../../bench/harness/stats.js'
import { startSubscriber } from '../../bench/harness/subscriber.js'
import { PacketSplitter, parsePublish, publishTemplate, type Packet } from '../../bench/harness/wire.js'
import { startMosquitto } from '../helpers/mosquitto.js'

/**
 * The benchmark harness counts what it is given correctly: wire framing,
 * payload fields, statistics, the subscriber's unique/duplicate counting
 * against a real Mosquitto, and the report's ratio and target columns.
 * No timing is asserted anywhere.
 */

t.test('percentile (nearest rank) and median', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i) // 100..1, unsorted
  t.equal(percentile(xs, 50), 50)
  t.equal(percentile(xs, 99), 99)
  t.equal(percentile(xs, 100), 100)
  t.equal(percentile([7], 99), 7)
  t.ok(Number.isNaN(percentile([], 50)))
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(median([5, NaN, 1]), 3, 'non-finite values are left out')
  t.ok(Number.isNaN(median([])))
})

t.test('a PUBLISH from the template splits back into topic, packet id and payload, across any chunking', async (t) => {
  const tpl = publishTemplate('bench/e1/p3', PAYLOAD_BYTES)
  const packets = [1, 300, 65535].map((id, seq) => {
    const buf = tpl.make(id)
    fillPayload(buf, tpl.payloadAt)
    writePayload(buf, tpl.payloadAt, 42, 3, seq, 123456789n + BigInt(seq))
    return buf
  })
  const stream = Buffer.concat(packets)
  for (const chunkSize of [1, 7, 64, stream.length]) {
    const splitter = new PacketSplitter()
    const got: Packet[] = []
    for (let at = 0; at < stream.length; at += chunkSize) splitter.push(stream.subarray(at, at + chunkSize), (p) => got.push({ ...p, body: Buffer.from(p.body) }))
    t.equal(got.length, 3, `3 packets with chunks of ${chunkSize}`)
    got.forEach((p, seq) => {
      t.equal(p.type, 3)
      const { topic, packetId, payload } = parsePublish(p)
      t.equal(topic, 'bench/e1/p3')
      t.equal(packetId, [1, 300, 65535][seq])
      t.equal(payload.length, PAYLOAD_BYTES)
      t.same(readPayload(payload), { tag: 42, publisher: 3, seq, sentAt: 123456789n + BigInt(seq) })
      t.equal(payload.subarray(20).toString(), 'a'.repeat(PAYLOAD_BYTES - 20))
    })
  }
})

t.test('the subscriber counts every event once, duplicates apart, and opens batches', async (t) => {
  const cloud = await startMosquitto()
  t.teardown(() => cloud.stop())
  const sub = await startSubscriber(cloud.port, 'bench-test-sub')
  t.teardown(() => sub.close())
  const tag = 7001
  // Room for one more event per publisher than the burst sends (the batch brings it).
  const tracker = sub.expect({ tag, publishers: 3, perPublisher: 201, latency: true })

  const r = await runLoad({ kind: 'burst', port: cloud.port, publishers: 3, events: 200, inflight: 20, tag, topicPrefix: 'bench/t', timeoutMs: 60_000 })
  t.equal(r.error, undefined)
  t.equal(r.acked, 600, 'every publish PUBACKed')
  t.ok(await tracker.waitFor(600, 60_000), 'all 600 arrived')
  t.equal(tracker.unique, 600)
  t.equal(tracker.latencies().length, 600)
  t.ok([...tracker.latencies()].every((ms) => ms >= 0), 'latencies are arrival - send, never negative')

  // The same event again (publisher 1, seq 5) counts as a duplicate; an unknown tag as stale.
  const pub = await rawConnect({ port: cloud.port, clientId: 'bench-test-dup', clean: true, onPacket: () => {} })
  t.teardown(() => pub.close())
  const tpl = publishTemplate('bench/t/dup', PAYLOAD_BYTES)
  const again = tpl.make(1)
  writePayload(again, tpl.payloadAt, tag, 1, 5, process.hrtime.bigint())
  const stranger = tpl.make(2)
  writePayload(stranger, tpl.payloadAt, 9999, 0, 0, process.hrtime.bigint())
  // A batch (CBOR with the self-describe tag) holding one new event and one duplicate.
  const fresh = Buffer.alloc(PAYLOAD_BYTES, 0x61)
  writePayload(fresh, 0, tag, 2, 200, process.hrtime.bigint())
  const dup = Buffer.alloc(PAYLOAD_BYTES, 0x61)
  writePayload(dup, 0, tag, 0, 0, process.hrtime.bigint())
  const batchPayload = Buffer.concat([Buffer.from([0xd9, 0xd9, 0xf7]), encode(['outpost-batch', 1, 'gw', [
    ['gw-1-1', 'd', 'x', 1, 1, false, fresh, null, false],
    ['gw-1-2', 'd', 'x', 1, 1, false, dup, null, false],
  ]])])
  const batchTpl = publishTemplate('outpost/gw/batch', batchPayload.length)
  const batch = batchTpl.make(3)
  batchPayload.copy(batch, batchTpl.payloadAt)
  pub.write(Buffer.concat([again, stranger, batch]))

  await tracker.waitAllOrQuiet(Number.MAX_SAFE_INTEGER, { minMs: 0, quietMs: 1000, maxMs: 30_000 })
  t.equal(tracker.unique, 601, 'the new event inside the batch counts; re-sends do not')
  t.equal(tracker.duplicates, 2, 'the re-sent event and the one inside the batch')
  t.ok(sub.stale >= 1, 'the message with an unknown tag is counted apart')
  t.equal(tracker.messages, 602, '600 plain messages, the duplicate, the batch')
})

t.test('a published event whose seq is outside the expectation is ignored, not counted', async (t) => {
  const cloud = await startMosquitto()
  t.teardown(() => cloud.stop())
  const sub = await startSubscriber(cloud.port, 'bench-test-sub2')
  t.teardown(() => sub.close())
  const tracker = sub.expect({ tag: 5, publishers: 1, perPublisher: 10 })
  const r = await runLoad({ kind: 'burst', port: cloud.port, publishers: 2, events: 12, inflight: 4, tag: 5, topicPrefix: 'bench/u', timeoutMs: 60_000 })
  t.equal(r.acked, 24)
  const all = await tracker.waitAllOrQuiet(11, { minMs: 0, quietMs: 1000, maxMs: 30_000 })
  t.notOk(all, 'only 10 events fit the expectation')
  t.equal(tracker.unique, 10)
  t.equal(tracker.duplicates, 0)
})

t.test('/proc sampling reads RSS and CPU time of a process', async (t) => {
  const s = sample(process.pid)
  t.ok(s.rssMb > 1, 'RSS in MB')
  t.ok(s.hwmMb >= s.rssMb - 1, 'peak RSS is at least the current one')
  t.ok(s.cpuMs >= 0, 'CPU time in ms')
})

t.test('the report puts medians, the ratio Outpost / Mosquitto and the target verdict in the table', async (t) => {
  const rate = metric({ scenario: '1. X', name: 'rate', unit: 'events/s', digits: 0, ratio: true, target: { text: '>= 1.0x', met: (m) => (m.outpost! >= m.mosquitto!) } })
  for (const v of [100, 300, 200]) add(rate, 'outpost', v)
  for (const v of [400, 400, 100]) add(rate, 'mosquitto', v)
  const lost = metric({ scenario: '6. Y', name: 'lost', unit: 'events', digits: 0, notes: { batched: 'not available in this build' } })
  add(lost, 'outpost', 0)
  const res: ScenarioResult = { id: 'x', title: 'X', metrics: [rate, lost], details: ['a detail'], errors: ['an error'] }
  const doc = renderReport({
    date: 'today', command: 'npm run bench', quick: false, rounds: 3, durationMin: 1, loadAverageAfter: '0', batchNote: 'n/a', setup: 'SETUP',
    machine: { cpu: 'cpu', cores: 2, memoryGb: 1, node: 'v20', mosquitto: 'mosquitto 2', packages: { outpost: '0.1.0' }, loadAverage: '0' },
    results: [res],
  })
  const row = doc.split('\n').find((l) => l.startsWith('| 1. X'))!
  t.match(row, /\| 200 \| 400 \| – \| 0\.50x \| >= 1\.0x: \*\*not met\*\* \| O: 100 \/ 300 \/ 200; M: 400 \/ 400 \/ 100 \|/)
  const lostRow = doc.split('\n').find((l) => l.startsWith('| 6. Y'))!
  t.match(lostRow, /\| 0 \| – \| not available in this build \|  \|/)
  t.match(doc, /- \*\*error\*\*: an error/)
  t.match(doc, /SETUP/)
})

t.test('the bench starts Outpost with the environment and node flags it ships with, and every way of starting it agrees', async (t) => {
  const root = new URL('../../', import.meta.url)
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }
  const { env, nodeFlags } = shippedLaunch()
  t.strictSame(shippedLaunch(pkg.scripts), { env, nodeFlags })
  t.ok(nodeFlags.length > 0 && Object.keys(env).length > 0, 'npm start sets both')
  const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1]
  t.strictSame(JSON.parse(entrypoint ?? '[]'), ['node', ...nodeFlags, 'dist/cli/main.js'], 'the Docker image: flags')
  for (const [name, value] of Object.entries(env)) t.match(dockerfile, new RegExp(`^ENV [^]*?\\b${name}=${value}\\b`, 'm'), `the Docker image: ${name}`)
  const shebang = readFileSync(new URL('src/cli/main.ts', root), 'utf8').split('\n')[0]
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')
  t.equal(shebang, `#!/usr/bin/env -S ${assignments}node ${nodeFlags.join(' ')}`, 'the outpost bin')
  const r = spawnSync(process.execPath, [...nodeFlags, '-e', '0'], { encoding: 'utf8', env: { ...process.env, ...env } })
  t.equal(r.status, 0, `node accepts them: ${r.stderr}`)
  t.throws(() => shippedLaunch({ start: 'tsx src/cli/main.ts start' }), /not '\[VAR=value \.\.\.\] node \[--flags\] dist\/cli\/main.js start/)
  t.strictSame(shippedLaunch({ start: 'node dist/cli/main.js start --config x.yaml' }), { env: {}, nodeFlags: [] })
  t.strictSame(shippedLaunch({ start: 'A_B=1 C=x/y node --f=2 dist/cli/main.js start' }), { env: { A_B: '1', C: 'x/y' }, nodeFlags: ['--f=2'] })
})
