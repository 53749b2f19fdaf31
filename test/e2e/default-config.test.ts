import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('npm start path: the shipped config starts, stores events, and stops cleanly on SIGTERM', async (t) => {
  const dir = t.testdir()
  // What `npm start` runs, with the device port and data dir overridden so the test does not take 1883.
  const child = spawn(process.execPath, ['dist/cli/main.js', 'start', '--config', 'config/outpost.yaml'], {
    cwd: ROOT, env: { ...process.env, OUTPOST_MQTT_PORT: '0', OUTPOST_MQTT_HOST: '127.0.0.1', OUTPOST_DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let buf = ''
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "outpost started" line')), 15_000)
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>
        buf = buf.slice(nl + 1)
        lines.push(line)
        if (line.msg === 'outpost started') { clearTimeout(timer); resolve(line) }
      }
    })
  })
  const info = await started
  t.equal(info.upstream, null, 'the shipped config has no upstream')
  t.ok(lines.some((l) => l.msg === 'no upstream configured: accepting and buffering events in the spool only'))
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${info.port as number}`, { protocolVersion: 4, clientId: 'sensor-1' })
  await client.publishAsync('sensors/t', '21.5', { qos: 1 })
  await client.endAsync()
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.ok(lines.some((l) => l.msg === 'stopped'))
})
