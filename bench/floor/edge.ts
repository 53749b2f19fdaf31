/**
 * The floor edge: the least a Node.js process must do to keep Outpost's
 * promise with Outpost's storage library, and nothing else. It exists to
 * measure that least, not to be run by anyone (bench/floor.ts).
 *
 * Per QoS 1 PUBLISH from a device: one record in a LevelDB write batch that
 * is fsync'd before the PUBACK (one batch per event-loop turn, one in flight),
 * one MQTT 5 PUBLISH upstream with the same three user properties Outpost
 * sends (event id, client id, acceptance time), and one LevelDB delete once
 * the cloud's PUBACK is in. Hand-written MQTT on both sides (bench/harness/
 * wire.ts's splitter), one socket write per connection per turn, no
 * validation, no ACLs, no contracts, no sessions, no retransmission, no
 * backpressure: everything in flight stays in memory.
 *
 * With --aedes, devices connect to aedes instead (its defaults, in-memory
 * persistence), whose authorizePublish hook feeds the same commit and whose
 * PUBACK waits for it: what aedes costs per event, next to the floor.
 *
 * node --import tsx bench/floor/edge.ts --port P --cloud-port C --dir D [--aedes]
 */
import { connect, createServer, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'
import { ClassicLevel } from 'classic-level'
import { connectPacket, PacketSplitter, parsePublish, remainingLength, type Packet } from '../harness/wire.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'cloud-port': { type: 'string' },
    dir: { type: 'string' },
    id: { type: 'string', default: 'floor' },
    aedes: { type: 'boolean', default: false },
  },
})
const port = Number(values.port)
const cloudPort = Number(values['cloud-port'])
if (!Number.isInteger(port) || !Number.isInteger(cloudPort) || values.dir === undefined) {
  console.error('usage: edge.ts --port P --cloud-port C --dir D [--id GW]')
  process.exit(2)
}
const gatewayId = values.id

const db = new ClassicLevel<Buffer, Buffer>(values.dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
await db.open()

interface Event {
  seq: number; device: Device | null; packetId: number; clientId: string; topic: string; payload: Buffer; acceptedAt: number
  /** --aedes: aedes' authorizePublish callback, which sends the PUBACK. */
  done?: (err: Error | null) => void
}
interface Device { socket: Socket; clientId: string; acks: number[] }

// --- Upstream: MQTT 5, clean start, no keepalive. ---
const up = connect(cloudPort, '127.0.0.1')
up.setNoDelay(true)
const upConnected = new Promise<void>((resolve, reject) => {
  up.once('error', reject)
  const splitter = new PacketSplitter()
  up.on('data', (chunk: Buffer) => splitter.push(chunk, (p) => {
    if (p.type === 2) resolve()
    else if (p.type === 4) onCloudPuback(p.body.readUInt16BE(0))
  }))
})
up.write(connectPacket(`${gatewayId}-up`, true, 5))
await upConnected

const inFlight = new Map<number, number>() // packet id -> seq
let nextPacketId = 1
let seq = 0

// --- Group commit: one batch per turn, one in flight. ---
let accepted: Event[] = []
let committing = false
let commitQueued = false

function accept(e: Event): void {
  accepted.push(e)
  if (!committing && !commitQueued) {
    commitQueued = true
    setImmediate(commit)
  }
}

function commit(): void {
  commitQueued = false
  if (committing || accepted.length === 0) return
  const events = accepted
  accepted = []
  committing = true
  const batch = db.batch()
  for (const e of events) batch.put(key(e.seq), encodeRecord(e))
  batch.write({ sync: true }).then(() => {
    committing = false
    acknowledge(events)
    forward(events)
    if (accepted.length > 0) commit()
  }, (err: unknown) => {
    console.error('commit failed', err)
    process.exit(1)
  })
}

function acknowledge(events: Event[]): void {
  const devices = new Set<Device>()
  for (const e of events) {
    if (e.device === null) {
      e.done!(null)
      continue
    }
    e.device.acks.push(e.packetId)
    devices.add(e.device)
  }
  for (const d of devices) {
    const out = Buffer.allocUnsafe(4 * d.acks.length)
    let at = 0
    for (const id of d.acks) {
      out[at++] = 0x40
      out[at++] = 2
      out[at++] = id >> 8
      out[at++] = id & 0xff
    }
    d.acks.length = 0
    if (!d.socket.destroyed) d.socket.write(out)
  }
}

function forward(events: Event[]): void {
  const strings: string[][] = []
  let total = 0
  for (const e of events) {
    const f = [`outpost/${gatewayId}/${e.topic}`, 'outpost-id', `${gatewayId}-${e.seq}`, 'outpost-client', e.clientId, 'outpost-ts', String(e.acceptedAt)]
    strings.push(f)
    total += publishSize(f, e.payload.length)
  }
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < events.length; i++) {
    const id = nextPacketId
    nextPacketId = nextPacketId === 65535 ? 1 : nextPacketId + 1
    inFlight.set(id, events[i]!.seq)
    at = writePublish5(out, at, strings[i]!, id, events[i]!.payload)
  }
  up.write(out)
}

// --- Deletes of what the cloud acknowledged: one batch per turn. ---
let acked: number[] = []
let deleteQueued = false

function onCloudPuback(packetId: number): void {
  const s = inFlight.get(packetId)
  if (s === undefined) return
  inFlight.delete(packetId)
  acked.push(s)
  if (!deleteQueued) {
    deleteQueued = true
    setImmediate(() => {
      deleteQueued = false
      const batch = db.batch()
      for (const s of acked) batch.del(key(s))
      acked = []
      batch.write().catch((err: unknown) => {
        console.error('delete failed', err)
        process.exit(1)
      })
    })
  }
}

// --- Devices: MQTT 3.1.1. ---
// --aedes: the same edge with aedes as the device broker (its default
// options, in-memory persistence), to measure what aedes costs per event.
const broker = values.aedes
  ? await Aedes.createBroker({
    authorizePublish: (client, packet, done) => {
      if (packet.qos !== 1) return done(null)
      accept({ seq: ++seq, device: null, packetId: 0, clientId: client?.id ?? '', topic: packet.topic, payload: packet.payload as Buffer, acceptedAt: Date.now(), done })
    },
  })
  : null

const server = createServer((socket) => {
  if (broker !== null) {
    broker.handle(socket)
    return
  }
  socket.setNoDelay(true)
  const device: Device = { socket, clientId: '', acks: [] }
  const splitter = new PacketSplitter()
  socket.on('data', (chunk: Buffer) => splitter.push(chunk, (p) => onDevicePacket(device, p)))
  socket.on('error', () => socket.destroy())
})

function onDevicePacket(device: Device, p: Packet): void {
  switch (p.type) {
    case 1: { // CONNECT: protocol name, level, flags, keepalive, client id
      const nameLen = p.body.readUInt16BE(0)
      const at = 2 + nameLen + 4
      const idLen = p.body.readUInt16BE(at)
      device.clientId = p.body.toString('utf8', at + 2, at + 2 + idLen)
      device.socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]))
      break
    }
    case 3: {
      const { topic, packetId, payload } = parsePublish(p)
      if (((p.flags >> 1) & 3) !== 1) break
      accept({ seq: ++seq, device, packetId, clientId: device.clientId, topic, payload, acceptedAt: Date.now() })
      break
    }
    case 12: // PINGREQ
      device.socket.write(Buffer.from([0xd0, 0x00]))
      break
    case 14: // DISCONNECT
      device.socket.end()
      break
  }
}

server.listen(port, '127.0.0.1')
process.once('SIGTERM', () => {
  server.close()
  up.destroy()
  void db.close().then(() => process.exit(0))
})

// --- Encoding. ---

function key(n: number): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

/** acceptedAt (8) | client id (2 + n) | topic (2 + n) | payload. */
function encodeRecord(e: Event): Buffer {
  const client = Buffer.byteLength(e.clientId)
  const topic = Buffer.byteLength(e.topic)
  const b = Buffer.allocUnsafe(8 + 2 + client + 2 + topic + e.payload.length)
  b.writeDoubleBE(e.acceptedAt, 0)
  let at = 8
  b.writeUInt16BE(client, at)
  at += 2 + b.write(e.clientId, at + 2)
  b.writeUInt16BE(topic, at)
  at += 2 + b.write(e.topic, at + 2)
  e.payload.copy(b, at)
  return b
}

/** Bytes of a QoS 1 MQTT 5 PUBLISH: f = [topic, key, value, key, value, ...]. */
function publishSize(f: string[], payloadLength: number): number {
  const remaining = remainingOf(f, payloadLength)
  return 1 + remainingLength(remaining).length + remaining
}

function propsOf(f: string[]): number {
  let n = 0
  for (let i = 1; i < f.length; i += 2) n += 1 + 2 + Buffer.byteLength(f[i]!) + 2 + Buffer.byteLength(f[i + 1]!)
  return n
}

function remainingOf(f: string[], payloadLength: number): number {
  const props = propsOf(f)
  return 2 + Buffer.byteLength(f[0]!) + 2 + remainingLength(props).length + props + payloadLength
}

function writePublish5(out: Buffer, at: number, f: string[], packetId: number, payload: Buffer): number {
  out[at++] = 0x32
  for (const b of remainingLength(remainingOf(f, payload.length))) out[at++] = b
  at = writeStr(out, at, f[0]!)
  out[at++] = packetId >> 8
  out[at++] = packetId & 0xff
  for (const b of remainingLength(propsOf(f))) out[at++] = b
  for (let i = 1; i < f.length; i += 2) {
    out[at++] = 0x26
    at = writeStr(out, at, f[i]!)
    at = writeStr(out, at, f[i + 1]!)
  }
  return at + payload.copy(out, at)
}

function writeStr(out: Buffer, at: number, s: string): number {
  const n = out.write(s, at + 2)
  out.writeUInt16BE(n, at)
  return at + 2 + n
}
