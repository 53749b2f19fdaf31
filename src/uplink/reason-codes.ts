/**
 * MQTT 5 PUBACK reason codes. MQTT.js calls a QoS 1 publish callback with an
 * ErrorWithReasonCode (`err.code` = the reason code) when the PUBACK carries a
 * code >= 0x80 (0x10 "no matching subscribers" counts as success), and has
 * already dropped the packet from its store: the uplink must decide.
 */

export const PubackCodes = {
  UNSPECIFIED_ERROR: 0x80,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  NOT_AUTHORIZED: 0x87,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
} as const

const NAMES: Record<number, string> = {
  0x80: 'Unspecified error',
  0x83: 'Implementation specific error',
  0x87: 'Not authorized',
  0x90: 'Topic Name invalid',
  0x91: 'Packet Identifier in use',
  0x97: 'Quota exceeded',
  0x99: 'Payload format invalid',
}

/** Codes that may succeed later: the broker's trouble, not the event's. */
const TRANSIENT = new Set<number>([
  PubackCodes.UNSPECIFIED_ERROR,
  PubackCodes.IMPLEMENTATION_SPECIFIC_ERROR,
  PubackCodes.QUOTA_EXCEEDED,
])

export type Refusal = 'transient' | 'permanent'

export function classifyPubackCode(code: number): Refusal {
  return TRANSIENT.has(code) ? 'transient' : 'permanent'
}

/** The PUBACK reason code an MQTT.js publish error carries, or undefined for any other failure. */
export function pubackCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' && code >= 0x80 && code <= 0xff ? code : undefined
}

/** e.g. 'PUBACK 0x87 Not authorized' */
export function describePubackCode(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`
  return `PUBACK ${hex} ${NAMES[code] ?? 'refused'}`
}
