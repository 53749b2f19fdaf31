import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * `outpost consume` as a child process (`node dist/cli/main.js consume ...`):
 * its stdout lines parsed as JSON events, its stderr as JSON log lines.
 * Stopped by PID only.
 */
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface ConsumerLine {
  id: string | null
  clientId: string | null
  topic: string
  upstreamTopic: string
  acceptedAt: number | null
  qos: number | null
  retain: boolean | null
  historical: boolean | null
  meta: Record<string, string> | null
  payload: string
  encoding: 'utf8' | 'base64'
  format: string
}

export interface ConsumerProcess {
  readonly pid: number
  lines: ConsumerLine[]
  logs: Array<Record<string, unknown>>
  /** Resolves once predicate holds; rejects after timeoutMs or when the process exits first. */
  waitUntil(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>
  kill(): Promise<void>
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>
  readonly exited: Promise<number | null>
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL')
})

export function startConsumer(args: string[]): ConsumerProcess {
  const child = spawn(process.execPath, [MAIN, 'consume', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  const lines: ConsumerLine[] = []
  const logs: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  let stderrText = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    children.delete(child)
    resolve(code)
    for (const w of waiters) w()
  }))
  splitLines(child.stdout!, (line) => { lines.push(JSON.parse(line) as ConsumerLine); for (const w of waiters) w() })
  splitLines(child.stderr!, (line) => {
    stderrText += line + '\n'
    try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch { logs.push({ msg: line }) }
    for (const w of waiters) w()
  })

  function waitUntil(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) { done(); resolve(); return }
        if (child.exitCode !== null || child.signalCode !== null) { done(); reject(new Error(`consumer exited before: ${what}\n${stderrText}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`consumer: not within ${timeoutMs} ms: ${what} (${lines.length} lines)\n${stderrText.slice(-2000)}`)) }, timeoutMs)
      const done = (): void => { waiters.delete(check); clearTimeout(timer) }
      waiters.add(check)
      check()
    })
  }

  return {
    get pid() { return child.pid ?? -1 },
    lines,
    logs,
    waitUntil,
    exited,
    async kill() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
      await exited
    },
    async stop() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM')
      return exited
    },
  }
}

function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = ''
  stream.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line !== '') onLine(line)
    }
  })
}
