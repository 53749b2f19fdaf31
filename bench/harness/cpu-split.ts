import { cpus } from 'node:os'
import { sample } from './proc.js'

/**
 * Where the machine's CPU went during one measured stretch: the edge under
 * test, the cloud broker, and this bench process (load generator and
 * subscriber, all threads). Everything shares the same cores, so when the
 * machine is busy all the time, a rate is bounded by the sum of the three per
 * event, not by the edge alone: these rows show that bound.
 */
export interface CpuSplit {
  /** CPU time per event, µs. */
  edgeUs: number
  cloudUs: number
  benchUs: number
  /** CPU time of all three over wall time x cores, 0..1. */
  machineBusy: number
}

export interface CpuSplitWatch {
  /** `wallMs`: the stretch the busy share is taken over, when not the whole watch (the outage's drain, first to last arrival). */
  stop(events: number, wallMs?: number): CpuSplit
  /** The edge's CPU per event (µs) from the start of the watch to now, which may be after stop. */
  edgeUsUntilNow(events: number): number
}

export function watchCpuSplit(edgePid: number, cloudPid: number): CpuSplitWatch {
  const cores = cpus().length
  const t0 = process.hrtime.bigint()
  const edge0 = sample(edgePid).cpuMs
  const cloud0 = sample(cloudPid).cpuMs
  const bench0 = process.cpuUsage()
  const per = (ms: number, events: number): number => (ms * 1000) / Math.max(1, events)
  return {
    stop(events, drainMs) {
      const wallMs = drainMs ?? Number(process.hrtime.bigint() - t0) / 1e6
      const edgeMs = sample(edgePid).cpuMs - edge0
      const cloudMs = sample(cloudPid).cpuMs - cloud0
      const b = process.cpuUsage(bench0)
      const benchMs = (b.user + b.system) / 1000
      return {
        edgeUs: per(edgeMs, events),
        cloudUs: per(cloudMs, events),
        benchUs: per(benchMs, events),
        machineBusy: (edgeMs + cloudMs + benchMs) / (wallMs * cores),
      }
    },
    edgeUsUntilNow(events) {
      return per(sample(edgePid).cpuMs - edge0, events)
    },
  }
}
