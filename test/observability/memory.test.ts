import { createRequire } from 'node:module'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { disableMqttNumberCache, fullGc, startIdleGc } from '../../src/observability/memory.js'
import { captureLog } from '../helpers/log.js'

const waitFor = async (cond: () => boolean, ms = 20_000): Promise<boolean> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

t.test('mqtt-packet writes packets without its 65,536-buffer number cache', async (t) => {
  // The copy of mqtt-packet aedes uses (npm normally shares it with MQTT.js).
  const req = createRequire(createRequire(import.meta.url).resolve('aedes'))
  const packet = req('mqtt-packet') as { writeToStream: ((p: object, s: NodeJS.WritableStream) => boolean) & { cacheNumbers: boolean } }
  const numbers = req('mqtt-packet/numbers') as { cache: Record<number, Buffer> }
  disableMqttNumberCache(captureLog().log)
  t.equal(packet.writeToStream.cacheNumbers, false)
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  packet.writeToStream({ cmd: 'puback', messageId: 0x1234 }, out)
  packet.writeToStream({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false }, out)
  await new Promise((r) => setImmediate(r))
  const bytes = Buffer.concat(chunks)
  // PUBACK with packet id 0x1234, then a PUBLISH whose topic length and packet id are written as numbers.
  t.same([...bytes.subarray(0, 4)], [0x40, 0x02, 0x12, 0x34])
  t.same([...bytes.subarray(4)], [0x32, 8, 0, 3, 0x61, 0x2f, 0x62, 0, 7, 0x78])
  t.equal(Object.keys(numbers.cache).length, 0, 'the number cache was never built')
})

t.test('a full collection is available at run time', async (t) => {
  const gc = fullGc()
  t.type(gc, 'function')
  gc?.()
})

t.test('startIdleGc collects once the activity stops moving', async (t) => {
  let activity = 0
  let collections = 0
  const { log, find } = captureLog()
  // Nothing was collected yet, so any heap (this one is well over 8 MiB) is worth a first collection.
  const stop = startIdleGc({ activity: () => activity, log, tickMs: 5, gc: () => { collections++ } })
  t.teardown(stop)
  const moving = setInterval(() => { activity++ }, 1)
  await new Promise((r) => setTimeout(r, 50))
  clearInterval(moving)
  t.ok(await waitFor(() => collections >= 1), 'collected after the activity stopped')
  t.ok(await waitFor(() => collections >= 2), 'and settled once more later')
  t.ok(find('quiet: garbage collected').length >= 2)
})

t.test('startIdleGc without a collector does nothing', async (t) => {
  const { log, find } = captureLog()
  const stop = startIdleGc({ activity: () => 0, log, tickMs: 5, gc: null })
  stop()
  t.equal(find('no garbage collector').length, 1)
})
