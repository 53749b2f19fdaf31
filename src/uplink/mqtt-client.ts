import { connect } from 'mqtt'
import type { ConnectFn } from './types.js'

/**
 * One MQTT.js client per connection attempt (reconnectPeriod 0 in the
 * options). A fresh client has an empty in-memory store, so nothing MQTT.js
 * kept from an earlier connection is ever re-sent behind the spool's back.
 */
export const connectMqtt: ConnectFn = (url, options, handlers) => {
  const client = connect(url, options)
  client.on('connect', handlers.onConnect)
  client.on('close', handlers.onClose)
  client.on('error', handlers.onError)
  client.on('disconnect', handlers.onDisconnect)
  const destroy = (): void => {
    client.end(true)
    // end() does nothing when an end is already under way: cut the socket anyway.
    client.stream?.destroy()
  }
  return {
    publish(topic, payload, opts, cb) {
      client.publish(topic, payload, opts, cb)
    },
    destroy,
    end(timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          destroy()
          resolve()
        }, timeoutMs)
        client.end(false, {}, () => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
  }
}
