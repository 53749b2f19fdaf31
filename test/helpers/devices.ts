import mqtt, { type MqttClient } from 'mqtt'

/**
 * A simulated sensor: an MQTT 3.1.1 client with a persistent session that
 * publishes numbered QoS 1 events (`{"d":<id>,"n":<i>}`) with a few in flight,
 * and records which ones the gateway acknowledged. MQTT.js re-sends what was
 * not acknowledged when it reconnects, as a real device would.
 */
export interface Device {
  readonly clientId: string
  /** Counters the gateway acknowledged (PUBACK received). */
  acked: Set<number>
  /** Resolves when all `count` events are acknowledged. */
  done: Promise<void>
  stop(): Promise<void>
}

export function startDevice(opts: { url: string; clientId: string; count: number; inFlight?: number; topic?: string; intervalMs?: number; /** Filler bytes added to each payload as field `p`. */ pad?: number }): Device {
  const client: MqttClient = mqtt.connect(opts.url, {
    protocolVersion: 4, clientId: opts.clientId, clean: false, reconnectPeriod: 100, connectTimeout: 2000,
  })
  client.on('error', () => { /* reconnects on its own */ })
  const acked = new Set<number>()
  const topic = opts.topic ?? `sensors/${opts.clientId}`
  const window = opts.inFlight ?? 8
  const pad = opts.pad ? 'x'.repeat(opts.pad) : undefined
  let next = 0
  let stopped = false
  const done = new Promise<void>((resolve) => {
    const pump = (): void => {
      while (!stopped && next < opts.count && next - acked.size < window) {
        const n = next++
        client.publish(topic, JSON.stringify(pad === undefined ? { d: opts.clientId, n } : { d: opts.clientId, n, p: pad }), { qos: 1 }, (err) => {
          if (err) return // a failed publish stays in MQTT.js's store and is re-sent
          acked.add(n)
          if (acked.size === opts.count) resolve()
          else if (opts.intervalMs) setTimeout(pump, opts.intervalMs)
          else pump()
        })
      }
    }
    client.once('connect', pump)
  })
  return {
    clientId: opts.clientId,
    acked,
    done,
    async stop() {
      stopped = true
      await client.endAsync(true)
    },
  }
}
