import { appendFileSync } from 'node:fs'
import { checkDelivery, type DeliveryReport } from './delivery-check.js'
import type { Received } from './mosquitto.js'

/**
 * What a fault scenario measured, one row of docs/reliability.md. Counted in
 * device events `(device, n)`, except the duplicate columns, which count
 * upstream messages beyond the first copy of an event.
 */
export interface FaultRow {
  /** Short stable name, e.g. `crash-loop`. */
  scenario: string
  variant: 'short' | 'full'
  /** Events the gateway acknowledged to devices (PUBACK / PUBCOMP received). */
  acknowledged: number
  /** Acknowledged events that reached the cloud at least once. */
  delivered: number
  /** Acknowledged events that never reached the cloud. */
  lost: number
  /** Messages the cloud received beyond the first copy of each event. */
  duplicatesBefore: number
  /** The same, after the consumer dedup module filtered the stream. */
  duplicatesAfter: number
  /** Places where a device's counter went backwards, after dedup. */
  reordered: number
  seconds: number
  /** Scenario facts for the doc: kills, seed, log lines seen, ... */
  notes?: string
  /** Set when the scenario could not run to the counting step: what went wrong. */
  failed?: string
}

/** `OUTPOST_FAULTS=full` selects the long variants (`npm run faults`). */
export const FULL = process.env.OUTPOST_FAULTS === 'full'
export const VARIANT: FaultRow['variant'] = FULL ? 'full' : 'short'

/**
 * Per-file time limit for fault test files (`t.setTimeout` on the root test
 * tells tap's runner): above .taprc's 120 s, because a loaded 2-core machine
 * can stretch a file of several real-process scenarios past it. A limit, not a
 * measurement.
 */
export const FILE_TIMEOUT_MS = FULL ? 1_800_000 : 300_000

/**
 * Appends the row as one JSON line to the file named by
 * `OUTPOST_FAULTS_RESULTS` (tap runs test files in parallel: one small
 * O_APPEND write per row keeps lines whole). Does nothing when unset.
 */
export function recordResult(row: FaultRow): void {
  const file = process.env.OUTPOST_FAULTS_RESULTS
  if (file === undefined || file === '') return
  appendFileSync(file, JSON.stringify(row) + '\n')
}

/** A filter that lets each event id through once: the consumer side's dedup. */
export type DedupFilter = (messages: Received[]) => Received[]

export interface Tally {
  row: Omit<FaultRow, 'scenario' | 'variant' | 'seconds' | 'notes'>
  report: DeliveryReport
}

function eventKey(m: Received): string {
  const { d, n } = JSON.parse(m.payload.toString()) as { d: string; n: number }
  return `${d}/${n}`
}

/** Copies beyond the first of each device event in a message list. */
export function extraCopies(messages: Received[]): number {
  const seen = new Set<string>()
  let extra = 0
  for (const m of messages) {
    const key = eventKey(m)
    if (seen.has(key)) extra++
    else seen.add(key)
  }
  return extra
}

/** The numbers of a row from what devices had acknowledged and what the cloud received. */
export function tally(acked: Map<string, Set<number>>, messages: Received[], idOf: (m: Received) => string | undefined, dedup: DedupFilter): Tally {
  const report = checkDelivery(acked, messages, idOf)
  let acknowledged = 0
  for (const s of acked.values()) acknowledged += s.size
  const after = dedup(messages)
  const afterReport = checkDelivery(acked, after, idOf)
  return {
    report,
    row: {
      acknowledged,
      delivered: acknowledged - report.missing.length,
      lost: report.missing.length,
      duplicatesBefore: extraCopies(messages),
      duplicatesAfter: extraCopies(after),
      reordered: afterReport.reordered.length,
    },
  }
}

/** mulberry32: a small seeded PRNG, so random kill moments can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed from `OUTPOST_FAULTS_SEED`, else a fresh one; tests print it. */
export function faultSeed(): number {
  const env = process.env.OUTPOST_FAULTS_SEED
  if (env !== undefined && /^\d+$/.test(env)) return Number(env)
  return Math.floor(Math.random() * 2 ** 31)
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `cond` every 50 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await sleep(50)
  }
}
