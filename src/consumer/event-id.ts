/**
 * An event id is `<gatewayId>-<epoch>-<seq>`: the gateway id (which may itself
 * contain '-'), the spool's open counter, and its sequence number. Ids of one
 * gateway epoch form a stream whose sequence numbers increase in the order the
 * gateway accepted the events.
 */
export interface ParsedEventId {
  /** `<gatewayId>-<epoch>`: everything before the last '-'. */
  stream: string
  gatewayId: string
  seq: number
}

// Canonical decimals only (no leading zeros), so one event has one spelling.
const ID = /^(.+)-(0|[1-9]\d*)-(0|[1-9]\d*)$/

/** The parts of a canonical event id, or undefined for any other string. */
export function parseEventId(id: string): ParsedEventId | undefined {
  const m = ID.exec(id)
  if (m === null) return undefined
  const seq = Number(m[3])
  if (!Number.isSafeInteger(seq)) return undefined
  return { stream: `${m[1]}-${m[2]}`, gatewayId: m[1] as string, seq }
}
