import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './free-port.js'

/**
 * The real gateway as a child process (`node dist/cli/main.js start`), for
 * tests that kill it with SIGKILL and start it again on the same data dir and
 * port. `npm test` builds dist/ before tap runs.
 */
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface GatewayProcessOptions {
  dir: string
  upstreamUrl?: string | null
  gatewayId?: string
  /** Extra YAML appended to the generated config. */
  extraYaml?: string
  /** Extra keys for the upstream section, one per line without indentation (e.g. `ackTimeoutMs: 2000`). */
  upstreamYaml?: string
  env?: Record<string, string>
  /** Extra arguments for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[]
}

export interface GatewayProcess {
  port: number
  readonly pid: number
  readonly url: string
  logs: Array<Record<string, unknown>>
  /** Start (or start again) and wait until devices can connect. */
  start(): Promise<void>
  /** SIGKILL by PID and wait for the exit. */
  kill(): Promise<void>
  /** SIGTERM by PID and wait for the exit; returns the exit code. */
  stop(): Promise<number | null>
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL')
})

export async function gatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  const port = await freePort()
  const configFile = join(opts.dir, 'outpost.yaml')
  const upstream = opts.upstreamUrl
    ? `upstream:\n  url: ${opts.upstreamUrl}\n  reconnect:\n    initialDelayMs: 100\n    maxDelayMs: 1000\n` +
      (opts.upstreamYaml ?? '').split('\n').filter((l) => l.trim() !== '').map((l) => `  ${l}\n`).join('')
    : 'upstream: null\n'
  await writeFile(configFile, [
    'gateway:', `  id: ${opts.gatewayId ?? 'gw'}`, `  dataDir: ${join(opts.dir, 'data')}`,
    'log:', '  level: info',
    'broker:', '  host: 127.0.0.1', `  port: ${port}`,
    upstream, opts.extraYaml ?? '',
  ].join('\n'))

  let child: ChildProcess | null = null
  let exited: Promise<number | null> = Promise.resolve(null)
  const logs: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()

  function waitForLog(msg: string, timeoutMs = 15_000, from = 0): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = logs.slice(from).find((l) => l.msg === msg)
        if (!hit) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve(hit)
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`gateway did not log "${msg}" within ${timeoutMs} ms; last lines: ${JSON.stringify(logs.slice(-5))}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  }

  const gp: GatewayProcess = {
    port,
    get pid() { return child?.pid ?? -1 },
    url: `mqtt://127.0.0.1:${port}`,
    logs,
    async start() {
      const from = logs.length
      const c = spawn(process.execPath, [...(opts.nodeArgs ?? []), MAIN, 'start', '--config', configFile], {
        env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
      })
      child = c
      children.add(c)
      exited = new Promise((resolve) => c.once('exit', (code) => { children.delete(c); resolve(code) }))
      let buf = ''
      c.stdout!.on('data', (d: Buffer) => {
        buf += d.toString()
        let nl
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          try { logs.push(JSON.parse(line)) } catch { logs.push({ msg: line }) }
        }
        for (const w of waiters) w()
      })
      let err = ''
      c.stderr!.on('data', (d: Buffer) => { err += d.toString() })
      const early = exited.then((code) => { throw new Error(`gateway exited with ${code} during start: ${err}; last log lines: ${JSON.stringify(logs.slice(-4))}`) })
      await Promise.race([waitForLog('outpost started', 15_000, from), early])
      early.catch(() => { /* exit after start is the tests' business */ })
    },
    async kill() {
      if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
      await exited
    },
    async stop() {
      if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM')
      return exited
    },
    waitForLog: (msg, timeoutMs) => waitForLog(msg, timeoutMs),
  }
  return gp
}
