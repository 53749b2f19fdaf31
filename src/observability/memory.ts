import { createRequire } from 'node:module'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Logger } from 'pino'
import { afterGc, idleGcStep, initialIdleGcState, type IdleGcOptions } from './idle-gc.js'

/**
 * Process-wide memory settings of a running gateway (`outpost start`). They
 * change no behaviour, only what memory is kept: see "Memory" in
 * docs/architecture.md.
 */

/**
 * mqtt-packet (the MQTT codec of both aedes and MQTT.js) builds, on its first
 * packet, a cache of 65,536 two-byte Buffers, one per 16-bit number: about
 * 6 MB of heap held for the life of the process, to save one 2-byte
 * allocation per packet id or length written. Switch it off in every copy of
 * mqtt-packet that aedes and MQTT.js load (normally one, shared).
 */
export function disableMqttNumberCache(log?: Logger): void {
  for (const owner of ['aedes', 'mqtt']) {
    try {
      const req = createRequire(createRequire(import.meta.url).resolve(owner))
      const packet = req('mqtt-packet') as { writeToStream?: { cacheNumbers?: boolean } }
      if (packet.writeToStream !== undefined) packet.writeToStream.cacheNumbers = false
    } catch (err) {
      log?.debug({ err, owner }, 'could not switch off the mqtt-packet number cache')
    }
  }
}

/**
 * Let V8 grow its young generation again (2 is V8's default growth factor),
 * after the start-up kept it small (src/cli/main.ts). Under load a young
 * generation at its full size costs far less CPU than a small one.
 */
export function allowYoungGenerationGrowth(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=2')
}

/** V8's full garbage collection, compacting, or null if this Node cannot give it at run time. */
export function fullGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    if (typeof gc !== 'function') return null
    // Compacting moves the survivors of a burst out of half-empty pages, so
    // the pages go back to the system: measured 4-9 MB less old space than a
    // plain full collection. Only for this collection: the flag is V8-wide.
    return () => {
      v8.setFlagsFromString('--compact-on-every-full-gc')
      try {
        (gc as () => void)()
      } finally {
        v8.setFlagsFromString('--no-compact-on-every-full-gc')
      }
    }
  } catch {
    return null
  }
}

export const IDLE_GC_TICK_MS = 250
export const IDLE_GC: IdleGcOptions = { minGrowthBytes: 8 * 1024 * 1024, settleTicks: 24 }

/**
 * Collect garbage when the gateway goes quiet (see idle-gc.ts). `activity`
 * returns a number that changes whenever events move. Returns a stop function;
 * does nothing (and says so at debug level) if no collector is available.
 */
export function startIdleGc(opts: { activity: () => number; log: Logger; tickMs?: number; gc?: (() => void) | null }): () => void {
  const gc = opts.gc === undefined ? fullGc() : opts.gc
  if (gc === null) {
    opts.log.debug('no garbage collector available at run time: memory is returned only when V8 decides to')
    return () => {}
  }
  const state = initialIdleGcState()
  const timer = setInterval(() => {
    const action = idleGcStep(state, { activity: opts.activity(), heapUsed: v8.getHeapStatistics().used_heap_size }, IDLE_GC)
    if (action === 'none') return
    const started = performance.now()
    gc()
    const heapUsed = v8.getHeapStatistics().used_heap_size
    afterGc(state, heapUsed)
    opts.log.debug({ action, ms: Math.round(performance.now() - started), heapUsedMb: Math.round(heapUsed / 1048576) }, 'quiet: garbage collected')
  }, opts.tickMs ?? IDLE_GC_TICK_MS)
  timer.unref()
  return () => clearInterval(timer)
}
