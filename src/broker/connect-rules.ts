/** CONNACK return codes of MQTT 3.1.1, section 3.2.2.3. */
export const ConnackCodes = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_CREDENTIALS: 4,
  NOT_AUTHORIZED: 5,
} as const

export interface ConnectFacts {
  clientId: string
  clean: boolean
}

/**
 * The MQTT 3.1.1 connect rules aedes 1.2 does not enforce itself. Returns the
 * CONNACK code to refuse with, or null to accept.
 */
export function connectRefusal(packet: ConnectFacts, maxClientIdLength: number): number | null {
  // [MQTT-3.1.3-8] a zero-byte client id with CleanSession 0 gets return code 0x02, then close.
  if (packet.clientId === '' && !packet.clean) return ConnackCodes.IDENTIFIER_REJECTED
  if (packet.clientId.length > maxClientIdLength) return ConnackCodes.IDENTIFIER_REJECTED
  return null
}
