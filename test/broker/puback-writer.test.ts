import { Writable } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { gatherPubacks } from '../../src/broker/puback-writer.js'

/** A socket stand-in that records each write it gets (and each writev batch as one). */
function sink(highWaterMark = 16 * 1024): Writable & { writes: Buffer[] } {
  const writes: Buffer[] = []
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) { writes.push(Buffer.from(chunk)); cb() },
    writev(chunks, cb) { writes.push(Buffer.concat(chunks.map((c) => c.chunk as Buffer))); cb() },
  })
  return Object.assign(w, { writes })
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))
const puback = (id: number): Buffer => mqttPacket.generate({ cmd: 'puback', messageId: id })
const write = (packet: object, stream: Writable): boolean => mqttPacket.writeToStream(packet as mqttPacket.Packet, stream)

t.test('PUBACKs of one tick go to a gathered connection as one write, in order, as mqtt-packet encodes them', async (t) => {
  const s = sink()
  gatherPubacks(s)
  for (const id of [1, 2, 300, 65535]) t.equal(write({ cmd: 'puback', messageId: id }, s), true)
  t.same(s.writes, [], 'nothing written before the tick ends')
  await tick()
  t.same(s.writes, [Buffer.concat([puback(1), puback(2), puback(300), puback(65535)])])
  write({ cmd: 'puback', messageId: 7 }, s)
  await tick()
  t.equal(s.writes.length, 2, 'the next tick writes its own')
  t.same(s.writes[1], puback(7))
})

t.test('other packets, and connections not gathered, take mqtt-packet\'s own path', async (t) => {
  const plain = sink()
  write({ cmd: 'puback', messageId: 1 }, plain)
  write({ cmd: 'puback', messageId: 2 }, plain)
  await tick()
  t.same(Buffer.concat(plain.writes), Buffer.concat([puback(1), puback(2)]))

  const s = sink()
  gatherPubacks(s)
  write({ cmd: 'puback', messageId: 1 }, s)
  write({ cmd: 'pingresp' }, s)
  write({ cmd: 'puback', messageId: 2 }, s)
  await tick()
  const bytes = Buffer.concat(s.writes)
  t.equal(bytes.length, 10, 'both PUBACKs and the PINGRESP')
  t.same(bytes.subarray(0, 2), mqttPacket.generate({ cmd: 'pingresp' }), 'the PINGRESP may go first (MQTT orders PUBACKs among themselves only)')
  t.same(bytes.subarray(2), Buffer.concat([puback(1), puback(2)]), 'the PUBACKs in their order')
})

t.test('an invalid packet id is left to mqtt-packet, which refuses it as it always did', async (t) => {
  const s = sink()
  gatherPubacks(s)
  let ours: unknown = null
  let theirs: unknown = null
  try { write({ cmd: 'puback', messageId: 70000 }, s) } catch (err) { ours = err }
  const reference = sink()
  try { write({ cmd: 'puback', messageId: 70000 }, reference) } catch (err) { theirs = err }
  t.ok(theirs instanceof Error, 'mqtt-packet throws (aedes turns it into a client error)')
  t.same(String(ours), String(theirs), 'the same error')
  await tick()
  t.same(s.writes, reference.writes, 'the same bytes as mqtt-packet alone (nothing gathered)')
})

t.test('backpressure: false while the socket wants a drain; nothing written once it is destroyed', async (t) => {
  const s = sink(4)
  gatherPubacks(s)
  s.cork()
  s.write(Buffer.alloc(8))
  t.equal(write({ cmd: 'puback', messageId: 1 }, s), false, 'over the high-water mark')
  s.uncork()
  await tick()

  const gone = sink()
  gatherPubacks(gone)
  write({ cmd: 'puback', messageId: 1 }, gone)
  gone.destroy()
  await tick()
  t.same(gone.writes, [])
})
