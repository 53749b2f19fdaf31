import t from 'tap'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { createPubackSplitter } from '../../src/uplink/puback-splitter.js'

/** PUBACKs taken out of the upstream's bytes; everything else passed on intact and in order. */

function run(chunks: Buffer[]): { pubacks: Array<[number, number]>; other: Buffer } {
  const pubacks: Array<[number, number]> = []
  const other: Buffer[] = []
  const split = createPubackSplitter({ puback: (id, code) => pubacks.push([id, code]), other: (b) => other.push(Buffer.from(b)) })
  for (const c of chunks) split(c)
  return { pubacks, other: Buffer.concat(other) }
}

function parseAll(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: Packet[] = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (e) => { throw e })
  parser.parse(bytes)
  return packets
}

const gen = (p: object, protocolVersion: 4 | 5): Buffer => mqttPacket.generate(p as Packet, { protocolVersion })

/** Every way of cutting `bytes` into two or three chunks. */
function cuts(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]]
  for (let i = 1; i < bytes.length; i++) {
    out.push([bytes.subarray(0, i), bytes.subarray(i)])
    for (let j = i + 1; j < bytes.length; j += 3) out.push([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])
  }
  return out
}

t.test('MQTT 3.1.1: PUBACKs taken, CONNACK and PINGRESP passed on, however the bytes are cut', async (t) => {
  const connack = gen({ cmd: 'connack', returnCode: 0, sessionPresent: false }, 4)
  const pingresp = gen({ cmd: 'pingresp' }, 4)
  const bytes = Buffer.concat([
    connack,
    gen({ cmd: 'puback', messageId: 1 }, 4),
    gen({ cmd: 'puback', messageId: 65535 }, 4),
    pingresp,
    gen({ cmd: 'puback', messageId: 258 }, 4),
  ])
  let checked = 0
  for (const chunks of cuts(bytes)) {
    const r = run(chunks)
    if (JSON.stringify(r.pubacks) !== JSON.stringify([[1, 0], [65535, 0], [258, 0]])) t.fail(`pubacks ${JSON.stringify(r.pubacks)} for cut ${chunks.map((c) => c.length).join('+')}`)
    if (!r.other.equals(Buffer.concat([connack, pingresp]))) t.fail(`other bytes differ for cut ${chunks.map((c) => c.length).join('+')}`)
    checked++
  }
  t.ok(checked > bytes.length, `${checked} ways of cutting checked`)
})

t.test('MQTT 5: reason codes and properties of PUBACKs; DISCONNECT passed on', async (t) => {
  const disconnect = gen({ cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'session taken over' } }, 5)
  const bytes = Buffer.concat([
    gen({ cmd: 'puback', messageId: 7, reasonCode: 0 }, 5),
    gen({ cmd: 'puback', messageId: 8, reasonCode: 0x10 }, 5),
    gen({ cmd: 'puback', messageId: 9, reasonCode: 0x97, properties: { reasonString: 'quota exceeded' } }, 5),
    disconnect,
  ])
  for (const chunks of cuts(bytes)) {
    const r = run(chunks)
    t.same(r.pubacks, [[7, 0], [8, 0x10], [9, 0x97]])
    t.same(parseAll(r.other, 5).map((p) => p.cmd), ['disconnect'])
    if (t.passing() === false) break
  }
  // A PUBACK with only the packet id (remaining length 2) means success.
  t.same(run([Buffer.from([0x40, 2, 0, 5])]).pubacks, [[5, 0]])
})

t.test('a big packet that is not a PUBACK is passed on piece by piece, not held', async (t) => {
  const publish = gen({ cmd: 'publish', topic: 'down/x', payload: Buffer.alloc(5000, 1), qos: 0, retain: false, dup: false }, 4)
  const puback = gen({ cmd: 'puback', messageId: 3 }, 4)
  const other: number[] = []
  const pubacks: number[] = []
  const split = createPubackSplitter({ puback: (id) => pubacks.push(id), other: (b) => other.push(b.length) })
  split(publish.subarray(0, 100))
  t.same(other, [100], 'the first piece went on at once')
  split(publish.subarray(100, 3000))
  split(Buffer.concat([publish.subarray(3000), puback]))
  t.equal(other.reduce((a, b) => a + b, 0), publish.length)
  t.same(pubacks, [3])
})

t.test('malformed input goes to MQTT.js, never taken for a PUBACK', async (t) => {
  // PUBACK type with flags set, and one too short to hold a packet id.
  const flagged = Buffer.from([0x42, 2, 0, 1])
  const short = Buffer.from([0x40, 1, 0])
  const r = run([Buffer.concat([flagged, short])])
  t.same(r.pubacks, [])
  t.same(r.other, Buffer.concat([flagged, short]))
  // A remaining length of more than four bytes: everything after it goes on as is.
  const bad = Buffer.from([0x40, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1])
  const after = Buffer.from([0x40, 2, 0, 9])
  const r2 = run([bad, after])
  t.same(r2.pubacks, [])
  t.same(r2.other, Buffer.concat([bad, after]))
})
