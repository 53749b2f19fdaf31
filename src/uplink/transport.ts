import { createConnection, isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import type { IClientOptions } from 'mqtt'

/**
 * The byte stream to the cloud broker: TCP for mqtt://, TLS for mqtts://
 * (the only schemes checkUplinkUrl lets through). It is handed to MQTT.js's
 * documented `new MqttClient(streamBuilder, options)`.
 *
 * Why not MQTT.js's `connect(url)`: on its first call it loads every
 * transport it knows, WebSocket and SOCKS included, which an uplink limited to
 * mqtt:// and mqtts:// never uses. Measured on an idle gateway (100-event
 * warm-up, 5 runs each): RSS 61.9 -> 60.5 MB.
 */
export interface Endpoint {
  secure: boolean
  host: string
  port: number
  /** From the URL's user info, percent-decoded; the config's username/password take precedence. */
  username?: string
  password?: string
}

/** The URL, already checked by checkUplinkUrl, as host, port and credentials. */
export function parseEndpoint(url: string): Endpoint {
  const u = new URL(url)
  const secure = u.protocol === 'mqtts:'
  // An IPv6 literal keeps its brackets in URL.hostname; sockets want it bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  const endpoint: Endpoint = { secure, host, port: u.port === '' ? (secure ? 8883 : 1883) : Number(u.port) }
  if (u.username !== '') endpoint.username = decodeURIComponent(u.username)
  if (u.password !== '') endpoint.password = decodeURIComponent(u.password)
  return endpoint
}

/** Credentials for MQTT.js: the config's, else the URL's. */
export function withUrlCredentials(options: IClientOptions, endpoint: Endpoint): IClientOptions {
  const out = { ...options }
  if (out.username === undefined && endpoint.username !== undefined) out.username = endpoint.username
  if (out.password === undefined && endpoint.password !== undefined) out.password = endpoint.password
  return out
}

/**
 * Opens the connection. TLS checks the broker's certificate against `ca`
 * (else the system's roots) unless `rejectUnauthorized` is false, for the
 * name in `servername`, else the URL's host when that is a name (an IP
 * address is not sent as SNI). A failed check is an 'error' with Node's code
 * on the stream, which MQTT.js passes on as the client's 'error'.
 */
export function openTransport(endpoint: Endpoint, options: IClientOptions): Duplex {
  if (!endpoint.secure) return createConnection({ host: endpoint.host, port: endpoint.port })
  const servername = options.servername ?? (isIP(endpoint.host) === 0 ? endpoint.host : undefined)
  return tlsConnect({
    host: endpoint.host,
    port: endpoint.port,
    rejectUnauthorized: options.rejectUnauthorized !== false,
    ...(servername === undefined ? {} : { servername }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.cert === undefined ? {} : { cert: options.cert }),
    ...(options.key === undefined ? {} : { key: options.key }),
  })
}
