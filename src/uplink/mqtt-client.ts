import type { Duplex, Writable } from 'node:stream'
import { ErrorWithReasonCode, MqttClient, type Packet } from 'mqtt'
import { PacketIds } from './packet-ids.js'
import { PublishEncoder } from './publish-encoder.js'
import { createPubackSplitter } from './puback-splitter.js'
import { openTransport, parseEndpoint, withUrlCredentials } from './transport.js'
import type { ConnectFn, PublishCallback } from './types.js'

/**
 * One MQTT.js client per connection attempt (reconnectPeriod 0 in the
 * options), over a TCP or TLS stream of our own (transport.ts). MQTT.js does
 * the session: CONNECT/CONNACK, keepalive, server DISCONNECT. QoS 1 PUBLISHes and their PUBACKs take a shorter path:
 *
 * - Out: each PUBLISH is encoded (publish-encoder.ts) into a shared chunk of
 *   memory, and everything written in one event-loop turn goes to the socket
 *   as one write in the check phase (setImmediate): the refills of all the
 *   PUBACKs of one socket read leave in one syscall, without a stream write
 *   per packet.
 * - In: the socket's bytes pass through puback-splitter.ts before MQTT.js's
 *   parser; PUBACKs are matched by packet id here, every other packet goes on
 *   to MQTT.js in order. MQTT.js calls our stream builder, then pipes the
 *   stream into its parser; the builder diverts that pipe through the
 *   splitter.
 *
 * MQTT.js never sees those publishes, so it stores nothing it could re-send
 * behind the spool's back, and its outgoing store stays empty. Packet ids are
 * ours alone: the uplink sends no SUBSCRIBE and no publish through MQTT.js.
 */

/** Size of the shared chunks publishes are encoded into. */
const CHUNK_BYTES = 64 * 1024

export const connectMqtt: ConnectFn = (url, options, handlers) => {
  const encoder = new PublishEncoder(options.protocolVersion === 5 ? 5 : 4)
  const pending = new PacketIds<PublishCallback>()
  /** Encoded publishes not written yet: chunk[from, to). */
  let chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  let from = 0
  let to = 0
  let flushQueued = false
  /** Whether PUBACKs come through the splitter (else through MQTT.js's packetreceive). */
  let split = false
  /** end(): send DISCONNECT once the last PUBACK is in. */
  let onSettled: (() => void) | null = null
  /** end(): the connection is gone, whatever the reason: done. */
  let onClosed: (() => void) | null = null

  const onPuback = (messageId: number, code: number): void => {
    const cb = pending.release(messageId)
    if (cb === undefined) return
    // 0x10 "no matching subscribers" is a success; >= 0x80 a refusal.
    if (code >= 0x80) cb(new ErrorWithReasonCode(`Publish error: ${code}`, code))
    else cb(null)
    if (pending.size === 0) onSettled?.()
  }

  // MQTT.js calls the builder, then pipes the stream into its parser (a
  // Writable). Route that pipe through the splitter.
  const endpoint = parseEndpoint(url)
  const buildStream = (): Duplex => {
    const stream = openTransport(endpoint, options)
    const pipe = stream.pipe
    stream.pipe = function <T extends NodeJS.WritableStream>(this: Duplex, parser: T): T {
      stream.pipe = pipe
      split = true
      const toParser = parser as unknown as Writable
      stream.on('data', createPubackSplitter({
        puback: onPuback,
        other: (bytes) => { toParser.write(bytes) },
      }))
      return parser
    }
    return stream
  }
  const client = new MqttClient(buildStream, { ...withUrlCredentials(options, endpoint), manualConnect: true })

  client.on('connect', handlers.onConnect)
  client.on('close', () => {
    pending.clear()
    from = to
    onClosed?.()
    handlers.onClose()
  })
  client.on('error', handlers.onError)
  client.on('disconnect', handlers.onDisconnect)
  // Only if the stream was not piped as expected (another MQTT.js version).
  client.on('packetreceive', (packet: Packet) => {
    if (split || packet.cmd !== 'puback' || packet.messageId === undefined) return
    onPuback(packet.messageId, packet.reasonCode ?? 0)
  })
  client.connect()

  const flush = (): void => {
    flushQueued = false
    writeOut()
  }

  const writeOut = (): void => {
    if (to === from) return
    const stream = client.stream
    const bytes = chunk.subarray(from, to)
    from = to
    // Written bytes are never touched again: later packets go after them, or into a new chunk.
    if (stream !== undefined && !stream.destroyed) stream.write(bytes)
  }

  const destroy = (): void => {
    client.end(true)
    // end() does nothing when an end is already under way: cut the socket anyway.
    client.stream?.destroy()
  }

  return {
    publish(topic, payload, opts, cb) {
      const stream = client.stream
      if (!client.connected || stream === undefined || stream.destroyed) {
        process.nextTick(cb, new Error('connection is not open'))
        return
      }
      const size = encoder.measure(topic, payload, opts)
      const id = pending.claim(cb)
      try {
        if (to + size > chunk.length) {
          writeOut()
          chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size))
          from = 0
          to = 0
        }
        to = encoder.write(chunk, to, id)
      } catch (err) {
        // Not sent: its id is free again and its callback never called.
        pending.release(id)
        throw err
      }
      if (!flushQueued) {
        flushQueued = true
        // After this turn's I/O callbacks: every publish that the PUBACKs of
        // one socket read freed goes out in a single write.
        setImmediate(flush)
      }
    },
    destroy,
    end(timeoutMs) {
      return new Promise((resolve) => {
        let done = false
        const complete = (): void => {
          if (done) return
          done = true
          clearTimeout(timer)
          onSettled = null
          onClosed = null
          resolve()
        }
        const timer = setTimeout(() => {
          destroy()
          complete()
        }, timeoutMs)
        const finish = (): void => {
          onSettled = null
          client.end(false, {}, complete)
        }
        onClosed = complete
        if (pending.size === 0 || !client.connected) finish()
        else onSettled = finish
      })
    },
  }
}
