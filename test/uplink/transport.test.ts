import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createServer, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet'
import { connectMqtt } from '../../src/uplink/mqtt-client.js'
import { parseEndpoint, withUrlCredentials } from '../../src/uplink/transport.js'

/**
 * The uplink's own transport (transport.ts) under MQTT.js's
 * `new MqttClient(streamBuilder, options)`: what it takes from the URL, and
 * that the gateway never loads MQTT.js's WebSocket and SOCKS transports.
 * TLS against a real broker: mosquitto-tls.test.ts.
 */

t.test('the URL gives host, port (1883 / 8883 by default) and percent-decoded credentials', async (t) => {
  t.strictSame(parseEndpoint('mqtt://broker.example'), { secure: false, host: 'broker.example', port: 1883 })
  t.strictSame(parseEndpoint('mqtts://broker.example'), { secure: true, host: 'broker.example', port: 8883 })
  t.strictSame(parseEndpoint('mqtt://[::1]:1999'), { secure: false, host: '::1', port: 1999 })
  t.strictSame(parseEndpoint('mqtts://us%40er:p%3Ass@10.0.0.7:8884'), { secure: true, host: '10.0.0.7', port: 8884, username: 'us@er', password: 'p:ss' })
})

t.test("the config's credentials take precedence over the URL's; the options given are not changed", async (t) => {
  const endpoint = parseEndpoint('mqtt://url-user:url-pass@h')
  const options = { clientId: 'c', username: 'cfg-user' }
  t.strictSame(withUrlCredentials(options, endpoint), { clientId: 'c', username: 'cfg-user', password: 'url-pass' })
  t.strictSame(options, { clientId: 'c', username: 'cfg-user' })
  t.strictSame(withUrlCredentials({ clientId: 'c' }, parseEndpoint('mqtt://h')), { clientId: 'c' })
})

/** A server on `host` that answers CONNECT with CONNACK and keeps what it got. */
async function connackServer(host: string): Promise<{ port: number; connects: IConnectPacket[]; close(): Promise<void> }> {
  const connects: IConnectPacket[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p: Packet) => {
      if (p.cmd !== 'connect') return
      connects.push(p)
      socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }))
    })
    socket.on('data', (d) => parser.parse(d))
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return {
    port: (server.address() as { port: number }).port,
    connects,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function connectOnce(url: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const client = connectMqtt(url, { protocolVersion: 4, clientId: 'transport-test', reconnectPeriod: 0, clean: true }, {
      onConnect: () => { void client.end(5000).then(resolve) },
      onClose: () => {},
      onError: reject,
      onDisconnect: () => {},
    })
  })
}

t.test('URL credentials and an IPv6 literal reach the broker', async (t) => {
  const v4 = await connackServer('127.0.0.1')
  t.teardown(() => v4.close())
  await connectOnce(`mqtt://alice:s%3Acret@127.0.0.1:${v4.port}`)
  t.equal(v4.connects[0]?.username, 'alice')
  t.equal(v4.connects[0]?.password?.toString(), 's:cret')

  const v6 = await connackServer('::1')
  t.teardown(() => v6.close())
  await connectOnce(`mqtt://[::1]:${v6.port}`)
  t.equal(v6.connects.length, 1, 'connected over IPv6 loopback')
  t.equal(v6.connects[0]?.username, undefined, 'no credentials when neither URL nor config has them')
})

t.test("a connection loads none of MQTT.js's WebSocket or SOCKS code", async (t) => {
  // In a fresh process: this test process has loaded all sorts through its helpers.
  const server = await connackServer('127.0.0.1')
  t.teardown(() => server.close())
  const clientJs = fileURLToPath(new URL('../../dist/uplink/mqtt-client.js', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const { connectMqtt } = await import(${JSON.stringify(clientJs)})
    await new Promise((resolve, reject) => {
      const c = connectMqtt('mqtt://127.0.0.1:${server.port}', { protocolVersion: 4, clientId: 'x', reconnectPeriod: 0, clean: true },
        { onConnect: () => c.end(5000).then(resolve), onClose() {}, onError: reject, onDisconnect() {} })
    })
    const loaded = Object.keys(createRequire(import.meta.url).cache)
    console.log(JSON.stringify({ mqtt: loaded.filter((p) => p.includes('/node_modules/mqtt/')).length, unwanted: loaded.filter((p) => /\\/node_modules\\/(ws|socks|smart-buffer)\\/|\\/mqtt\\/build\\/lib\\/connect\\/(ws|socks|tcp|tls)\\.js$/.test(p)) }))`
  // Asynchronously: the server it connects to runs in this process.
  const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
  const out = JSON.parse(r.stdout) as { mqtt: number; unwanted: string[] }
  t.ok(out.mqtt > 0, 'the check sees MQTT.js modules in the cache')
  t.strictSame(out.unwanted, [])
  t.equal(server.connects.length, 1)
})
