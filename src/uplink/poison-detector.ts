/**
 * Poison records on links without reason codes. A 3.1.1 broker (or a proxy in
 * front of one) that refuses a publish may just close the connection. The
 * uplink then reconnects and re-sends from the oldest unacknowledged record,
 * the broker closes again, and everything behind that record waits forever.
 * Pure: the uplink reports how each connection ended and gets a verdict.
 *
 * - A drop counts when the server ended a working connection (not our own
 *   ack-timeout or keepalive verdict, not a failed connect), nothing was
 *   acked over it, and a record was in flight. Anything else resets the count.
 * - After `afterDrops` counted drops in a row with the same oldest record in
 *   flight, the next connection sends that record alone (verdict 'solo'),
 *   after a quiet probe period that shows the connection itself works.
 * - If that connection is dropped too, with only the suspect in flight and
 *   nothing acked, the verdict is 'reject': move it to the rejected store.
 *   If the suspect is acked, or the drop does not count, back to normal.
 */

export interface ConnectionEnd {
  /** Seq of the oldest record in flight when the connection ended, or null. */
  oldestInFlight: number | null
  /** Records in flight then. */
  recordsInFlight: number
  /** Records acked over this connection. */
  acked: number
  /** The server (or the network) closed it; false when we cut it ourselves. */
  byServer: boolean
}

export type PoisonVerdict =
  | { kind: 'none' }
  | { kind: 'solo'; seq: number; drops: number }
  | { kind: 'reject'; seq: number; drops: number }

export interface PoisonDetector {
  /** Report a connection that had reached CONNACK and ended; returns what to do next. */
  connectionEnded(end: ConnectionEnd): PoisonVerdict
  /** The record the next connection must send alone, or null. */
  readonly solo: number | null
}

export function createPoisonDetector(afterDrops: number): PoisonDetector {
  let suspect: number | null = null
  let drops = 0
  let solo: number | null = null

  function reset(): PoisonVerdict {
    suspect = null
    drops = 0
    solo = null
    return { kind: 'none' }
  }

  return {
    get solo() { return solo },
    connectionEnded(end) {
      if (afterDrops <= 0) return { kind: 'none' }
      const head = end.oldestInFlight
      if (!end.byServer || end.acked > 0 || head === null) return reset()
      if (solo !== null) {
        const was = solo
        const counted = drops + 1
        reset()
        return head === was && end.recordsInFlight === 1 ? { kind: 'reject', seq: was, drops: counted } : { kind: 'none' }
      }
      if (head === suspect) {
        drops++
      } else {
        suspect = head
        drops = 1
      }
      if (drops >= afterDrops) {
        solo = head
        return { kind: 'solo', seq: head, drops }
      }
      return { kind: 'none' }
    },
  }
}
