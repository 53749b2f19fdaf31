import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { freePort } from './free-port.js'

/**
 * A private Mosquitto for tests: own config file, own temp dir, own port on
 * 127.0.0.1, started and stopped by PID. Never touches a system service.
 */

const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto'

export interface MosquittoOptions {
  port?: number
  /** Keep sessions and queued messages across restart (saved on SIGTERM). */
  persistence?: boolean
  /** Working dir for config, log and persistence; a new temp dir when absent. */
  dir?: string
  /** Extra config lines appended as they are. */
  extraConfig?: string[]
  /** Ports of listeners declared in extraConfig: start and restart also wait until these accept. */
  extraPorts?: number[]
}

export interface Mosquitto {
  port: number
  readonly pid: number
  dir: string
  url: string
  /** SIGTERM by PID, then wait for the exit; removes the dir when it made it. */
  stop(): Promise<void>
  /** SIGKILL by PID (no persistence save); does not wait. */
  kill(): void
  /** Stop (when running) and start again on the same port and dir. */
  restart(): Promise<void>
  /** The broker's own log file so far. */
  logText(): Promise<string>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
  }
})

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = opts.port ?? await freePort()
  const ownDir = opts.dir === undefined
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'outpost-mosquitto-'))
  const configPath = join(dir, 'mosquitto.conf')
  const logPath = join(dir, 'mosquitto.log')
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `persistence ${opts.persistence === true ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    `log_dest file ${logPath}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_timestamp_format %H:%M:%S',
  ]
  // Unlimited queues, persistent or not: the default (1000) silently drops QoS 1
  // messages for a subscriber that falls behind, which would fail tests at random.
  lines.push('max_queued_messages 0')
  if (process.getuid?.() === 0) lines.push('user root')
  lines.push(...(opts.extraConfig ?? []))
  await writeFile(configPath, lines.join('\n') + '\n')

  let child: ChildProcess = await launch()

  async function launch(): Promise<ChildProcess> {
    const proc = spawn(MOSQUITTO_BIN, ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] })
    running.add(proc)
    let stderr = ''
    proc.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    proc.once('exit', () => running.delete(proc))
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break
      if (await allOpen([port, ...(opts.extraPorts ?? [])])) return proc
      await sleep(20)
    }
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    const log = await readFile(logPath, 'utf8').catch(() => '')
    throw new Error(`mosquitto did not start on 127.0.0.1:${[port, ...(opts.extraPorts ?? [])].join(', ')}: ${stderr}${log}`)
  }

  async function halt(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM')
    await exited
  }

  return {
    port,
    get pid() { return child.pid ?? -1 },
    dir,
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      await halt()
      if (ownDir) await rm(dir, { recursive: true, force: true })
    },
    kill() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGKILL')
      }
    },
    async restart() {
      await halt()
      child = await launch()
    },
    logText: () => readFile(logPath, 'utf8').catch(() => ''),
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1' })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

async function allOpen(ports: number[]): Promise<boolean> {
  for (const p of ports) if (!await portOpen(p)) return false
  return true
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface Received {
  topic: string
  payload: Buffer
  userProperties: Record<string, string | string[]>
  retain: boolean
  dup: boolean
}

export interface Collector {
  messages: Received[]
  client: MqttClient
  /** Resolves once `predicate` holds for the messages so far; rejects after `timeoutMs`. */
  waitUntil(predicate: (messages: Received[]) => boolean, timeoutMs?: number): Promise<void>
  waitForCount(count: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

export interface CollectOptions {
  clientId?: string
  /** 5 (default) or 4. */
  protocolVersion?: 4 | 5
  username?: string
  password?: string
}

/**
 * A subscriber that records every message it receives, with its MQTT 5 user
 * properties. Persistent session (clean false, one hour expiry), QoS 1, and
 * MQTT.js's own quick reconnect, so it survives a broker restart.
 */
export async function collect(url: string, topicFilter: string, opts: CollectOptions = {}): Promise<Collector> {
  const protocolVersion = opts.protocolVersion ?? 5
  const options: IClientOptions = {
    protocolVersion,
    clientId: opts.clientId ?? `collector-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    clean: false,
    reconnectPeriod: 100,
    connectTimeout: 2000,
  }
  if (protocolVersion === 5) options.properties = { sessionExpiryInterval: 3600 }
  if (opts.username !== undefined) options.username = opts.username
  if (opts.password !== undefined) options.password = opts.password
  const client = connect(url, options)
  client.on('error', () => { /* reconnects on its own */ })
  const messages: Received[] = []
  const waiters = new Set<() => void>()
  client.on('message', (topic, payload, packet) => {
    messages.push({
      topic,
      payload,
      userProperties: packet.properties?.userProperties ?? {},
      retain: packet.retain,
      dup: packet.dup,
    })
    for (const check of waiters) check()
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector could not connect to ${url}`)), 5000)
    client.once('connect', () => {
      client.subscribe(topicFilter, { qos: 1 }, (err) => {
        clearTimeout(timer)
        if (err) reject(err)
        else resolve()
      })
    })
  })

  function waitUntil(predicate: (m: Received[]) => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate(messages)) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`collector: condition not met within ${timeoutMs} ms (${messages.length} messages)`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  }

  return {
    messages,
    client,
    waitUntil,
    waitForCount: (count, timeoutMs) => waitUntil((m) => m.length >= count, timeoutMs),
    close: () => client.endAsync(true),
  }
}
