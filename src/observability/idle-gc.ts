/**
 * When to collect garbage because the gateway went quiet (pure: no timers, no
 * V8). A burst of events leaves V8's heap grown and full of garbage that no
 * collection will free while nothing is allocated, so a gateway holding a
 * backlog with the cloud down, or simply idle after a busy minute, keeps the
 * memory of its last burst for as long as it stays quiet. This decides, on
 * each tick of a timer, whether one full collection is due:
 *
 * - `collect` on the first quiet tick after activity, if the heap grew by at
 *   least `minGrowthBytes` since the last collection (a trickle of events does
 *   not pay for a full collection each time);
 * - `settle` once, `settleTicks` quiet ticks later: by then V8 sees a low
 *   allocation rate, and a full collection also shrinks the young generation
 *   and gives its pages back (V8 only does that when allocation has been low
 *   for several seconds).
 */
export interface IdleGcOptions {
  minGrowthBytes: number
  settleTicks: number
}

export type IdleGcAction = 'none' | 'collect' | 'settle'

export interface IdleGcState {
  lastActivity: number | null
  quietTicks: number
  /** Heap used right after the last collection this decided (0 before any). */
  usedAfterGc: number
  settlePending: boolean
}

export function initialIdleGcState(): IdleGcState {
  return { lastActivity: null, quietTicks: 0, usedAfterGc: 0, settlePending: false }
}

/** One tick: `activity` is any counter that moves when the gateway works; `heapUsed` V8's used heap bytes. */
export function idleGcStep(state: IdleGcState, input: { activity: number; heapUsed: number }, opts: IdleGcOptions): IdleGcAction {
  if (input.activity !== state.lastActivity) {
    state.lastActivity = input.activity
    state.quietTicks = 0
    return 'none'
  }
  state.quietTicks++
  if (state.quietTicks === 1 && input.heapUsed - state.usedAfterGc >= opts.minGrowthBytes) {
    state.settlePending = true
    return 'collect'
  }
  if (state.settlePending && state.quietTicks >= opts.settleTicks) {
    state.settlePending = false
    return 'settle'
  }
  return 'none'
}

/** Record what a collection left (call after running one). */
export function afterGc(state: IdleGcState, heapUsed: number): void {
  state.usedAfterGc = heapUsed
}
