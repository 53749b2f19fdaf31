import type { IClientOptions } from 'mqtt'
import { ErrorCodes, OutpostError } from '../errors.js'
import type { TlsMaterial } from './tls-files.js'
import type { UplinkOptions } from './types.js'

/**
 * MQTT 5 session expiry for clean: false. Without it an MQTT 5 session ends
 * at disconnect, so "persistent" would mean nothing; 0xFFFFFFFF (never)
 * matches what clean session off means on 3.1.1. Brokers may lower it.
 */
export const SESSION_EXPIRY_NEVER = 0xffffffff

/** The URL with any password replaced by ***, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^/]*@/i, '$1:***@')
}

/** Throws OUTPOST_UPLINK_URL unless the URL is mqtt:// or mqtts:// and agrees with `tls`. */
export function checkUplinkUrl(rawUrl: string, tls: unknown): 'mqtt' | 'mqtts' {
  const url = redactUrl(rawUrl)
  let parsed: URL
  try {
    parsed = new URL(rawUrl)
  } catch {
    throw new OutpostError(ErrorCodes.UPLINK_URL, `upstream.url '${url}' is not a URL`)
  }
  const scheme = parsed.protocol.slice(0, -1)
  if (scheme !== 'mqtt' && scheme !== 'mqtts') {
    throw new OutpostError(ErrorCodes.UPLINK_URL, `upstream.url '${url}' must start with mqtt:// or mqtts://`)
  }
  if (parsed.hostname === '') throw new OutpostError(ErrorCodes.UPLINK_URL, `upstream.url '${url}' has no host`)
  if (scheme === 'mqtt' && tls !== null) {
    throw new OutpostError(ErrorCodes.UPLINK_URL, `upstream.tls is set but upstream.url '${url}' is mqtt:// (plain TCP); use mqtts://`)
  }
  return scheme
}

/**
 * MQTT.js options for one connection. MQTT.js's reconnect is off
 * (reconnectPeriod 0): on reconnect it re-sends its in-flight store with
 * DUP=0 and it queues without limit while offline. The uplink makes a new
 * client per connection and runs its own backoff. QoS 0 is never queued.
 * Do not add properties.maximumPacketSize here: mqtt-packet then drops user
 * properties (our event id) from PUBLISH packets that would exceed it.
 */
export function buildClientOptions(o: UplinkOptions, tls: TlsMaterial | null): IClientOptions {
  const options: IClientOptions = {
    protocolVersion: o.protocolVersion,
    clientId: o.clientId,
    clean: o.clean,
    keepalive: o.keepaliveSec,
    connectTimeout: o.connectTimeoutMs,
    reconnectPeriod: 0,
    queueQoSZero: false,
    resubscribe: false,
    // The uplink's PUBACKs bypass MQTT.js (mqtt-client.ts); without this MQTT.js
    // would clear and set its keepalive timer on every packet it handles.
    reschedulePings: false,
  }
  if (o.username !== null) options.username = o.username
  if (o.password !== null) options.password = o.password
  if (o.protocolVersion === 5 && !o.clean) options.properties = { sessionExpiryInterval: SESSION_EXPIRY_NEVER }
  if (tls !== null) {
    options.rejectUnauthorized = tls.rejectUnauthorized
    if (tls.ca !== undefined) options.ca = tls.ca
    if (tls.cert !== undefined) options.cert = tls.cert
    if (tls.key !== undefined) options.key = tls.key
    if (tls.servername !== undefined) options.servername = tls.servername
  }
  return options
}
