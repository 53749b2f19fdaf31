import { connect, ErrorWithReasonCode, type Packet } from 'mqtt'
import { encodePublish } from './publish-encoder.js'
import type { ConnectFn, PublishCallback } from './types.js'

/**
 * One MQTT.js client per connection attempt (reconnectPeriod 0 in the
 * options). MQTT.js does the session: CONNECT/CONNACK, TLS, keepalive,
 * server DISCONNECT. QoS 1 PUBLISHes take a shorter path: the uplink encodes
 * each one into a single buffer (publish-encoder.ts), writes it to the socket
 * with the socket corked until the next check phase of the event loop (so
 * the refills of all PUBACKs from one socket read go out in one writev), and
 * matches PUBACKs by packet id itself. MQTT.js never sees those publishes, so it stores nothing it could re-send
 * behind the spool's back, and its outgoing store stays empty. Packet ids are
 * ours alone: the uplink sends no SUBSCRIBE and no publish through MQTT.js.
 */
export const connectMqtt: ConnectFn = (url, options, handlers) => {
  const client = connect(url, options)
  const protocolVersion = options.protocolVersion === 5 ? 5 : 4
  const pending = new Map<number, PublishCallback>()
  let nextId = 1
  let corked = false
  /** end(): send DISCONNECT once the last PUBACK is in. */
  let onSettled: (() => void) | null = null
  /** end(): the connection is gone, whatever the reason: done. */
  let onClosed: (() => void) | null = null

  client.on('connect', handlers.onConnect)
  client.on('close', () => {
    pending.clear()
    onClosed?.()
    handlers.onClose()
  })
  client.on('error', handlers.onError)
  client.on('disconnect', handlers.onDisconnect)
  client.on('packetreceive', (packet: Packet) => {
    if (packet.cmd !== 'puback' || packet.messageId === undefined) return
    const cb = pending.get(packet.messageId)
    if (cb === undefined) return
    pending.delete(packet.messageId)
    const code = packet.reasonCode ?? 0
    // 0x10 "no matching subscribers" is a success; >= 0x80 a refusal.
    if (code >= 0x80) cb(new ErrorWithReasonCode(`Publish error: ${code}`, code))
    else cb(null)
    if (pending.size === 0) onSettled?.()
  })

  const uncork = (): void => {
    corked = false
    client.stream?.uncork()
  }

  const takeId = (): number => {
    for (let i = 0; i < 65535; i++) {
      const id = nextId
      nextId = nextId === 65535 ? 1 : nextId + 1
      if (!pending.has(id)) return id
    }
    throw new Error('no free packet identifier')
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
      const id = takeId()
      const bytes = encodePublish(topic, payload, opts, id, protocolVersion)
      pending.set(id, cb)
      if (!corked) {
        corked = true
        stream.cork()
        // After this turn's I/O callbacks: every publish that the PUBACKs of
        // one socket read freed goes out in a single writev.
        setImmediate(uncork)
      }
      stream.write(bytes)
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
