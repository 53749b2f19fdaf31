/**
 * Every error Outpost raises on purpose carries a stable code from this table.
 * Codes are part of the public contract: logs, exit messages and tests match on
 * them, so a code is never renamed or reused. docs/errors.md documents each one
 * (a test checks that none is missing).
 */
export const ErrorCodes = {
  CONFIG_READ: 'OUTPOST_CONFIG_READ',
  CONFIG_INVALID: 'OUTPOST_CONFIG_INVALID',
  SPOOL_OPEN: 'OUTPOST_SPOOL_OPEN',
  SPOOL_LOCKED: 'OUTPOST_SPOOL_LOCKED',
  SPOOL_WRITE: 'OUTPOST_SPOOL_WRITE',
  SPOOL_CLOSED: 'OUTPOST_SPOOL_CLOSED',
  SPOOL_RECORD_UNREADABLE: 'OUTPOST_SPOOL_RECORD_UNREADABLE',
  SPOOL_FULL: 'OUTPOST_SPOOL_FULL',
  SPOOL_UNAVAILABLE: 'OUTPOST_SPOOL_UNAVAILABLE',
  SPOOL_DISCARDED: 'OUTPOST_SPOOL_DISCARDED',
  SPOOL_DAMAGED: 'OUTPOST_SPOOL_DAMAGED',
  BROKER_LISTEN: 'OUTPOST_BROKER_LISTEN',
  BROKER_SYS_TOPIC: 'OUTPOST_BROKER_SYS_TOPIC',
  BROKER_PAYLOAD_TOO_LARGE: 'OUTPOST_BROKER_PAYLOAD_TOO_LARGE',
  SESSION_STORE_OPEN: 'OUTPOST_SESSION_STORE_OPEN',
  SESSION_STORE_WRITE: 'OUTPOST_SESSION_STORE_WRITE',
  SESSION_STORE_CLOSED: 'OUTPOST_SESSION_STORE_CLOSED',
  UPLINK_URL: 'OUTPOST_UPLINK_URL',
  UPLINK_TLS_FILE: 'OUTPOST_UPLINK_TLS_FILE',
  UPLINK_REJECTED: 'OUTPOST_UPLINK_REJECTED',
  UPLINK_TOPIC_TEMPLATE: 'OUTPOST_UPLINK_TOPIC_TEMPLATE',
  UPLINK_POISON: 'OUTPOST_UPLINK_POISON',
  CLI_USAGE: 'OUTPOST_CLI_USAGE',
  BATCH_INVALID: 'OUTPOST_BATCH_INVALID',
  BATCH_VERSION: 'OUTPOST_BATCH_VERSION',
  ENVELOPE_INVALID: 'OUTPOST_ENVELOPE_INVALID',
  CONSUMER_STATE: 'OUTPOST_CONSUMER_STATE',
  CONTRACT_INVALID: 'OUTPOST_CONTRACT_INVALID',
  CONTRACT_UNKNOWN_TOPIC: 'OUTPOST_CONTRACT_UNKNOWN_TOPIC',
  CONTRACT_UNKNOWN_DEVICE_TYPE: 'OUTPOST_CONTRACT_UNKNOWN_DEVICE_TYPE',
  DLQ_OPEN: 'OUTPOST_DLQ_OPEN',
  DLQ_LOCKED: 'OUTPOST_DLQ_LOCKED',
  DLQ_WRITE: 'OUTPOST_DLQ_WRITE',
  DLQ_NOT_FOUND: 'OUTPOST_DLQ_NOT_FOUND',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export class OutpostError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OutpostError'
    this.code = code
  }
}

/** Anything thrown or rejected, as an Error (a string or other value becomes its message). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

export function isOutpostError(err: unknown, code?: ErrorCode): err is OutpostError {
  return err instanceof OutpostError && (code === undefined || err.code === code)
}
