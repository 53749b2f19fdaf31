import { statfs } from 'node:fs/promises'

export type StatFs = (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>

export interface DiskGuardOptions {
  dir: string
  intervalMs: number
  /** Called after every check with the free bytes, or the error. */
  onSample: (freeBytes: number | null, err?: unknown) => void
  statfs?: StatFs
}

export interface DiskGuard {
  /** Free bytes available to this process at the last check; null before the first one or after a failed one. */
  readonly freeBytes: number | null
  /** Check now (also what the timer does). */
  check(): Promise<number | null>
  stop(): void
}

/**
 * Free space of the data directory's filesystem, from statfs on a timer, never
 * per event. `bavail` (blocks available to unprivileged users) times the block
 * size: the space LevelDB can actually use.
 */
export function createDiskGuard(opts: DiskGuardOptions): DiskGuard {
  const stat = opts.statfs ?? ((dir: string) => statfs(dir))
  let freeBytes: number | null = null
  let running: Promise<number | null> | null = null
  let stopped = false

  const check = (): Promise<number | null> => {
    running ??= stat(opts.dir).then(
      (s) => {
        freeBytes = Number(s.bavail) * Number(s.bsize)
        if (!stopped) opts.onSample(freeBytes)
        return freeBytes
      },
      (err: unknown) => {
        freeBytes = null
        if (!stopped) opts.onSample(null, err)
        return null
      },
    ).finally(() => { running = null })
    return running
  }
  const timer = setInterval(() => { void check() }, opts.intervalMs)
  timer.unref()
  return {
    get freeBytes() { return freeBytes },
    check,
    stop() {
      stopped = true
      clearInterval(timer)
    },
  }
}
