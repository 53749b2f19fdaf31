import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ErrorCodes, OutpostError } from '../errors.js'
import type { UplinkTlsOptions } from './types.js'

/** TLS material as MQTT.js / node:tls take it. */
export interface TlsMaterial {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  servername?: string
  rejectUnauthorized: boolean
}

/**
 * Read the PEM files named in the config, once, at start. A missing or
 * unreadable file, or one that is not PEM, fails start with
 * OUTPOST_UPLINK_TLS_FILE naming the field and the path, instead of a TLS
 * handshake error on every reconnect.
 */
export function readTlsMaterial(tls: UplinkTlsOptions, read: (path: string) => Buffer = readFileSync): TlsMaterial {
  const material: TlsMaterial = { rejectUnauthorized: tls.rejectUnauthorized }
  for (const field of ['ca', 'cert', 'key'] as const) {
    const path = tls[field]
    if (path === null) continue
    let bytes: Buffer
    try {
      bytes = read(path)
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      throw new OutpostError(ErrorCodes.UPLINK_TLS_FILE, `upstream.tls.${field}: cannot read '${path}' (${why})`, { cause: err })
    }
    if (!bytes.includes('-----BEGIN ')) {
      throw new OutpostError(ErrorCodes.UPLINK_TLS_FILE, `upstream.tls.${field}: '${path}' is not a PEM file (no -----BEGIN line)`)
    }
    material[field] = bytes
  }
  if ((material.cert === undefined) !== (material.key === undefined)) {
    throw new OutpostError(ErrorCodes.UPLINK_TLS_FILE, 'upstream.tls: cert and key go together (client certificate needs both)')
  }
  // Parse it all once now: a key that does not match its certificate, an
  // encrypted key or a broken PEM body fails start, not every reconnect.
  try {
    createSecureContext({ ca: material.ca, cert: material.cert, key: material.key })
  } catch (err) {
    throw new OutpostError(ErrorCodes.UPLINK_TLS_FILE, `upstream.tls: the files cannot be used together: ${(err as Error).message}`, { cause: err })
  }
  if (tls.servername !== null) material.servername = tls.servername
  return material
}
