import type { ReconnectPolicy } from './types.js'

/**
 * Delay before reconnect attempt number `attempt` (0 = first retry after a
 * loss): initialDelayMs * multiplier^attempt, capped at maxDelayMs, then a
 * `jitter` share of it randomised downwards, so a fleet that lost the same
 * cloud does not come back in lockstep. Result is within
 * [base * (1 - jitter), base], never below 0.
 */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  const jitter = Math.min(Math.max(policy.jitter, 0), 1)
  const growth = Math.pow(Math.max(policy.multiplier, 1), Math.max(attempt, 0))
  const initial = Math.max(policy.initialDelayMs, 0)
  const base = initial === 0 ? 0 : Math.min(initial * growth, policy.maxDelayMs)
  const delay = base * (1 - jitter * random())
  return Math.max(0, Math.round(delay))
}
