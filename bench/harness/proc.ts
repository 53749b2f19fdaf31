import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/**
 * Resource use of a process from /proc (Linux): RSS from /proc/<pid>/status,
 * CPU time (user + system) from /proc/<pid>/stat. Works the same for the
 * node process of Outpost and for mosquitto.
 */

let ticksPerSec = 100
try {
  ticksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch { /* 100 is the Linux default */ }

export interface ProcSample {
  rssMb: number
  /** Anonymous part of RSS (heap, stacks), without mapped files such as the node binary. */
  anonMb: number
  /** Peak RSS since the process started (VmHWM). */
  hwmMb: number
  cpuMs: number
}

export function sample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, hwmMb: kb('VmHWM') / 1024, cpuMs: ((utime + stime) / ticksPerSec) * 1000 }
}

/** Samples RSS every `everyMs` and keeps the largest, until stopped. */
export function watchPeak(pid: number, everyMs = 200): { stop(): number } {
  let peak = 0
  const read = (): void => {
    try { peak = Math.max(peak, sample(pid).rssMb) } catch { /* process gone */ }
  }
  read()
  const timer = setInterval(read, everyMs)
  return { stop() { clearInterval(timer); read(); return peak } }
}
