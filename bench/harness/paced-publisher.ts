import mqtt from 'mqtt'

/**
 * One MQTT.js 3.1.1 device publishing `count` QoS 1 messages with at most
 * `inflight` unacknowledged: the load of the single-system benches
 * (core-throughput, uplink-drain, contracts-validation). Resolves when every
 * PUBACK arrived.
 */
export async function publishQos1(o: {
  url: string
  clientId: string
  topic: string
  count: number
  inflight: number
  payload: (i: number) => Buffer
}): Promise<void> {
  const client = await mqtt.connectAsync(o.url, { protocolVersion: 4, clientId: o.clientId, clean: true })
  let next = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (next < o.count && next - acked < o.inflight) {
        client.publish(o.topic, o.payload(next++), { qos: 1 }, (err) => {
          if (err) return reject(err)
          if (++acked === o.count) resolve()
          else pump()
        })
      }
    }
    pump()
  })
  await client.endAsync()
}
