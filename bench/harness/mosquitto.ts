import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { serverProcess, type ServerProcess } from './process.js'

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto'

/** Common lines: loopback listener, persistence in `dir`, unlimited queues, a quiet log. */
function baseConfig(port: number | string, dir: string): string[] {
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    'max_queued_messages 0',
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
  ]
  if (process.getuid?.() === 0) lines.push('user root')
  return lines
}

export interface MosquittoProcess extends ServerProcess {
  port: number
  dir: string
}

async function launch(dir: string, port: number, lines: string[]): Promise<MosquittoProcess> {
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'mosquitto.conf')
  await writeFile(config, lines.join('\n') + '\n')
  const proc = serverProcess({ command: MOSQUITTO_BIN, args: ['-c', config], port, logFile: join(dir, 'stdout.log') })
  return {
    port,
    dir,
    get pid() { return proc.pid },
    get running() { return proc.running },
    start: () => proc.start(),
    stop: (graceMs) => proc.stop(graceMs),
    kill: () => proc.kill(),
  }
}

/**
 * The cloud: a Mosquitto that keeps sessions across its own restart (saved on
 * SIGTERM), with unlimited queues and no limit on QoS 1 messages in flight to
 * the subscriber, so the subscriber leg is never the narrow part.
 */
export function cloudMosquitto(dir: string, port: number): Promise<MosquittoProcess> {
  return launch(dir, port, cloudConfig(dir, port))
}

export function cloudConfig(dir: string, port: number | string): string[] {
  return [...baseConfig(port, dir), 'max_inflight_messages 0']
}

/**
 * The peer: an edge Mosquitto bridging everything to the cloud, as issue 4
 * describes it (persistence true, max_queued_messages 0, `topic # out 1`,
 * cleansession false). `restart_timeout 1 1` makes it retry the cloud about
 * every 2 s, the shortest mosquitto 2.0.11 does (a constant `restart_timeout 1`
 * gave ~6 s between attempts); Outpost here retries after 100 ms, then at most
 * every second. Both defaults back off to 30 s, which would make "time to
 * first delivery" measure the backoff. Autosave stays at its default (1800 s).
 */
export function edgeMosquitto(dir: string, port: number, cloudPort: number, bridgeClientId: string): Promise<MosquittoProcess> {
  return launch(dir, port, edgeConfig(dir, port, cloudPort, bridgeClientId))
}

export function edgeConfig(dir: string, port: number | string, cloudPort: number | string, bridgeClientId: string): string[] {
  return [
    ...baseConfig(port, dir),
    'connection cloud',
    `address 127.0.0.1:${cloudPort}`,
    'topic # out 1',
    'cleansession false',
    `remote_clientid ${bridgeClientId}`,
    'restart_timeout 1 1',
  ]
}

/** `mosquitto -h` prints its version first and exits with status 3. */
export function mosquittoVersion(): string {
  try {
    return execFileSync(MOSQUITTO_BIN, ['-h'], { encoding: 'utf8' }).split('\n')[0]!
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? '').split('\n')[0] || 'mosquitto (version unknown)'
  }
}
