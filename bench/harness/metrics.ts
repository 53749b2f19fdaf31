import { median } from './stats.js'
import type { SystemKind } from './context.js'

/**
 * One row of the results table: a quantity measured for each system in each
 * round. Medians and the ratio Outpost / Mosquitto are computed at report time.
 */
export interface Metric {
  scenario: string
  name: string
  unit: string
  /** Number of decimals in the table. */
  digits?: number
  values: Partial<Record<SystemKind, number[]>>
  /**
   * Issue 4's target for this row, in words, and how to check it on the
   * medians: true/false, null when not measured, or a verdict in words when
   * the row has more than one goal.
   */
  target?: { text: string; met: (m: Partial<Record<SystemKind, number>>) => boolean | null | string }
  /** Shown instead of a number for a system that could not be measured. */
  notes?: Partial<Record<SystemKind, string>>
  /** Whether the ratio column means anything for this row. */
  ratio?: boolean
}

export interface ScenarioResult {
  id: string
  title: string
  metrics: Metric[]
  /** Free text for the report: setup, per-round details, errors. */
  details: string[]
  errors: string[]
}

export function metric(m: Omit<Metric, 'values'>): Metric {
  return { ...m, values: {} }
}

export function add(m: Metric, kind: SystemKind, value: number): void {
  (m.values[kind] ??= []).push(value)
}

export function medians(m: Metric): Partial<Record<SystemKind, number>> {
  const out: Partial<Record<SystemKind, number>> = {}
  for (const [k, v] of Object.entries(m.values) as Array<[SystemKind, number[]]>) out[k] = median(v)
  return out
}

/** Issue 4's batched-mode target on a drain rate: Outpost batched >= 5x Outpost plain. */
export function batchedDrainVerdict(m: Partial<Record<SystemKind, number>>): string {
  if (m.outpost === undefined || m.batched === undefined) return 'not measured'
  return `${m.batched >= 5 * m.outpost ? '**met**' : '**not met**'} (${(m.batched / m.outpost).toFixed(2)}x)`
}
