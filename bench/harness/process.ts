import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { waitAccepting } from './client.js'

/**
 * A server process of the benchmark (mosquitto or Outpost), started by us and
 * stopped by its PID only. Output goes to a log file (no pipe to drain).
 * `start()` measures the time from spawn to the first MQTT CONNACK.
 */
export interface ServerProcess {
  readonly pid: number
  readonly running: boolean
  /** Spawns and waits until the port answers CONNECT with CONNACK; returns that time in ms. */
  start(): Promise<number>
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130))
}

export function serverProcess(opts: { command: string; args: string[]; port: number; logFile: string; startTimeoutMs?: number; env?: Record<string, string> }): ServerProcess {
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  const alive = (c: ChildProcess | null): c is ChildProcess => c !== null && c.exitCode === null && c.signalCode === null

  return {
    get pid() { return child?.pid ?? -1 },
    get running() { return alive(child) },
    async start() {
      if (alive(child)) throw new Error(`${opts.command} is already running (pid ${child.pid})`)
      const fd = openSync(opts.logFile, 'a')
      const t0 = performance.now()
      const c = spawn(opts.command, opts.args, { stdio: ['ignore', fd, fd], ...(opts.env === undefined ? {} : { env: { ...process.env, ...opts.env } }) })
      closeSync(fd)
      child = c
      live.add(c)
      exited = new Promise((resolve) => c.once('exit', () => { live.delete(c); resolve() }))
      try {
        return await waitAccepting(opts.port, t0, opts.startTimeoutMs ?? 60_000, () => alive(c))
      } catch (err) {
        if (alive(c)) c.kill('SIGKILL')
        await exited
        throw new Error(`${opts.command} did not start (see ${opts.logFile}): ${(err as Error).message}`)
      }
    },
    async stop(graceMs = 30_000) {
      const c = child
      if (!alive(c)) return
      c.kill('SIGTERM')
      const t = setTimeout(() => { if (alive(c)) c.kill('SIGKILL') }, graceMs)
      await exited
      clearTimeout(t)
    },
    async kill() {
      const c = child
      if (!alive(c)) return
      c.kill('SIGKILL')
      await exited
    },
  }
}
