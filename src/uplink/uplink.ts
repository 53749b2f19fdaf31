import type { IClientOptions, IConnackPacket, IDisconnectPacket } from 'mqtt'
import { backoffDelay } from './backoff.js'
import { batchOverheadBytes, compileBatchTopic, createBatchBuilder } from './batch-builder.js'
import { buildClientOptions, checkUplinkUrl } from './client-options.js'
import { resolveEnvelope } from './envelope.js'
import { ErrorCodes } from '../errors.js'
import { createForwarder, type Forwarder, type ForwarderBatchOptions, type ForwarderCounters } from './forwarder.js'
import { connectMqtt } from './mqtt-client.js'
import { createPacketBuilder, type PacketBuilder } from './packet-builder.js'
import { createPoisonDetector, type PoisonDetector } from './poison-detector.js'
import { createRateLimiter, type RateLimiter } from './rate-limiter.js'
import { readTlsMaterial } from './tls-files.js'
import { compileTopicTemplate } from './topic-template.js'
import type { StoredEvent } from '../spool/types.js'
import type { StatusListener, Uplink, UplinkClient, UplinkDeps, UplinkStatus } from './types.js'

/**
 * The uplink's connection lifecycle: connect, hand the live connection to a
 * forwarder, and on loss reconnect with exponential backoff and jitter
 * (MQTT.js's own reconnect stays off, see client-options.ts).
 *
 *   idle -> connecting -> connected -> backoff -> connecting -> ...
 *   any -> stopping -> stopped
 *
 * An outage is logged once at warn when it starts (with the pending count)
 * and once at info when it ends; single retries log at debug, plus a warn
 * when the failure reason changes (refused credentials after a timeout...).
 * The backoff restarts from initialDelayMs only after a connection that lasted
 * at least maxDelayMs, so a link that flaps right after CONNACK backs off too.
 *
 * Poison records (poison-detector.ts): how each connection ended is reported
 * to the detector; its verdict makes the next connection send the suspect
 * alone, or moves the suspect to the rejected store.
 */

/** Poison check: how long a new connection must stay up before the suspect is sent alone. */
export const SOLO_PROBE_MS = 1000

interface Connection {
  client: UplinkClient | null
  forwarder: Forwarder | null
  connectedAt: number | null
  /** Why it failed, from the client's error or our own verdict. */
  error: string | null
  /** We cut it (no PUBACK in time, failed publish, keepalive): not the server's doing. */
  ours: boolean
  /** What was in flight when it ended (taken before the forwarder is closed). */
  ended: { oldest: StoredEvent | undefined; records: number; acked: number } | null
  done: boolean
}

export function createUplink(deps: UplinkDeps): Uplink {
  const { options, gatewayId, spool, log } = deps
  const connectFn = deps.connect ?? connectMqtt
  const listeners = new Set<StatusListener>()
  const counters: ForwarderCounters = { sent: 0, acked: 0, rejected: 0, retried: 0 }
  const settling = new Set<number>()
  let status: UplinkStatus = 'idle'
  let reconnects = 0
  let connectedOnce = false
  let lastError: string | null = null
  let current: Connection | null = null
  let attempt = 0
  let outageSince: number | null = null
  let outageReason: string | null = null
  let backoffTimer: NodeJS.Timeout | null = null
  let unsubscribe: (() => void) | null = null
  let clientOptions: IClientOptions = {}
  let build: PacketBuilder | null = null
  let batch: ForwarderBatchOptions | undefined
  let rate: RateLimiter | undefined
  let poison: PoisonDetector = createPoisonDetector(0)
  let stopping: Promise<void> | null = null

  function setStatus(next: UplinkStatus): void {
    if (next === status) return
    const previous = status
    status = next
    for (const listener of listeners) listener(next, previous)
  }

  function pending(): number | null {
    try {
      return spool.stats().pending
    } catch {
      return null
    }
  }

  function connect(): void {
    backoffTimer = null
    if (status === 'stopping' || status === 'stopped') return
    setStatus('connecting')
    const conn: Connection = { client: null, forwarder: null, connectedAt: null, error: null, ours: false, ended: null, done: false }
    current = conn
    try {
      conn.client = connectFn(options.url, clientOptions, {
        onConnect: (connack) => onConnect(conn, connack),
        onClose: () => onClose(conn),
        onError: (err) => {
          if (conn.done) return
          conn.error = describeConnectError(err)
          // MQTT.js's keepalive verdict: no PINGRESP in time, our side's call.
          if (err.message === 'Keepalive timeout') conn.ours = true
          log.debug({ err: err.message }, 'uplink connection error')
        },
        onDisconnect: (packet) => onServerDisconnect(conn, packet),
      })
    } catch (err) {
      conn.error = (err as Error).message
      onClose(conn)
    }
  }

  function onConnect(conn: Connection, connack: IConnackPacket): void {
    if (conn !== current || conn.done || conn.client === null || build === null) return
    conn.connectedAt = Date.now()
    if (connectedOnce) reconnects++
    connectedOnce = true
    const props = connack.properties
    const window = Math.min(options.batch.maxEvents > 0 ? options.batch.window : options.window, props?.receiveMaximum ?? Infinity)
    if (outageSince !== null) {
      log.info({ downMs: Date.now() - outageSince, pending: pending() }, 'uplink connected again; forwarding the backlog')
    } else {
      log.info({ sessionPresent: connack.sessionPresent, window }, 'uplink connected')
    }
    outageSince = null
    outageReason = null
    const solo = poison.solo
    if (solo !== null) {
      log.warn({ seq: solo, probeMs: Math.min(SOLO_PROBE_MS, options.ackTimeoutMs) },
        'uplink: the upstream keeps closing the connection with the same record in flight; sending it alone to check')
    }
    conn.forwarder = createForwarder({
      spool,
      client: conn.client,
      build,
      window,
      ackTimeoutMs: options.ackTimeoutMs,
      maxAttempts: options.rejected.maxAttempts,
      retryDelayMs: options.rejected.retryDelayMs,
      maxPacketSize: props?.maximumPacketSize,
      counters,
      settling,
      log,
      onDead: (reason) => drop(conn, reason),
      onError: (message) => { lastError = message },
      ...(batch === undefined ? {} : { batch }),
      ...(rate === undefined ? {} : { rate }),
      historicalAfterMs: options.historicalAfterMs,
      ...(solo === null ? {} : { solo: { seq: solo, probeMs: Math.min(SOLO_PROBE_MS, options.ackTimeoutMs) } }),
    })
    setStatus('connected')
    conn.forwarder.start()
  }

  function onServerDisconnect(conn: Connection, packet: IDisconnectPacket): void {
    if (conn.done) return
    const code = packet.reasonCode ?? 0
    conn.error = `server sent DISCONNECT 0x${code.toString(16).padStart(2, '0')}` +
      (packet.properties?.reasonString ? ` (${packet.properties.reasonString})` : '')
    // 0x8e: another client took over our session: two gateways with one client id.
    const level = code === 0x8e ? 'error' : 'warn'
    log[level]({ reasonCode: code, reason: conn.error }, 'uplink disconnected by the server')
  }

  function snapshot(conn: Connection): Connection['ended'] {
    const fwd = conn.forwarder
    if (conn.ended === null && fwd !== null) {
      conn.ended = { oldest: fwd.oldestInFlight(), records: fwd.recordsInFlight, acked: fwd.acked }
    }
    return conn.ended
  }

  /** Our verdict that a connection is dead (no PUBACKs): cut it and reconnect. */
  function drop(conn: Connection, reason: string): void {
    if (conn.done) return
    log.warn({ reason, inFlight: conn.forwarder?.inFlight ?? 0 }, 'uplink connection is not working; closing it')
    conn.error = reason
    conn.ours = true
    snapshot(conn)
    conn.forwarder?.close()
    conn.client?.destroy()
    onClose(conn)
  }

  function onClose(conn: Connection): void {
    if (conn.done) return
    conn.done = true
    const ended = snapshot(conn)
    conn.forwarder?.close()
    if (conn !== current) return
    current = null
    if (status === 'stopping' || status === 'stopped') return
    if (ended !== null) {
      const verdict = poison.connectionEnded({
        oldestInFlight: ended.oldest?.seq ?? null, recordsInFlight: ended.records, acked: ended.acked, byServer: !conn.ours,
      })
      if (verdict.kind === 'reject' && ended.oldest !== undefined) rejectPoison(ended.oldest, verdict.drops, conn.error)
    }
    const reason = conn.error ?? 'connection closed'
    lastError = reason
    if (conn.connectedAt !== null && Date.now() - conn.connectedAt >= options.reconnect.maxDelayMs) attempt = 0
    const delay = backoffDelay(attempt, options.reconnect)
    attempt++
    if (outageSince === null) {
      outageSince = Date.now()
      outageReason = reason
      const msg = conn.connectedAt !== null
        ? 'uplink down; buffering events in the spool until it is back'
        : 'uplink unreachable; buffering events in the spool until it is back'
      log.warn({ reason, pending: pending(), retryInMs: delay }, msg)
    } else if (reason !== outageReason) {
      outageReason = reason
      log.warn({ reason, pending: pending(), retryInMs: delay }, 'uplink still down, for a new reason')
    } else {
      log.debug({ reason, attempt, retryInMs: delay }, 'uplink reconnect failed')
    }
    setStatus('backoff')
    backoffTimer = setTimeout(connect, delay)
  }

  /** The upstream drops the link whenever this record is in flight, also alone: set it aside. */
  function rejectPoison(event: StoredEvent, drops: number, lastReason: string | null): void {
    const reason = `the upstream closed the connection ${drops} times in a row while this record was in flight ` +
      `(the last time alone) and acknowledged nothing: taken for a publish it refuses (${lastReason ?? 'connection closed'})`
    counters.rejected++
    log.error({ code: ErrorCodes.UPLINK_POISON, id: event.id, seq: event.seq, clientId: event.clientId, topic: event.topic, reason },
      'upstream keeps refusing one event by closing the connection; moved it to the rejected store')
    settling.add(event.seq)
    spool.reject(event, reason).then(
      () => { settling.delete(event.seq) },
      (err: unknown) => {
        settling.delete(event.seq)
        log.error({ err, id: event.id }, 'could not move a poison event to the rejected store; it stays in the log')
      },
    )
  }

  async function shutdown(): Promise<void> {
    setStatus('stopping')
    if (backoffTimer !== null) clearTimeout(backoffTimer)
    backoffTimer = null
    unsubscribe?.()
    unsubscribe = null
    const conn = current
    if (conn !== null && !conn.done && conn.client !== null) {
      if (conn.forwarder !== null) {
        // Connected: let in-flight PUBACKs come back (they ack the spool), then DISCONNECT.
        conn.forwarder.pause()
        await conn.client.end(options.ackTimeoutMs)
      } else {
        conn.client.destroy()
      }
      conn.forwarder?.close()
      conn.done = true
    }
    current = null
    log.info({ ...counters, reconnects, pending: pending() }, 'uplink stopped')
    setStatus('stopped')
  }

  return {
    start() {
      if (status !== 'idle') return
      checkUplinkUrl(options.url, options.tls)
      const upstreamTopic = compileTopicTemplate(options.topicTemplate, gatewayId)
      const tls = options.tls === null ? null : readTlsMaterial(options.tls)
      const envelope = resolveEnvelope(options.envelope, options.protocolVersion)
      clientOptions = buildClientOptions(options, tls)
      build = createPacketBuilder({ protocolVersion: options.protocolVersion, envelope, upstreamTopic })
      if (options.batch.maxEvents > 0) {
        const topic = compileBatchTopic(options.batch.topic, gatewayId)
        batch = {
          maxEvents: options.batch.maxEvents,
          maxBytes: options.batch.maxBytes,
          lingerMs: options.batch.lingerMs,
          overheadBytes: batchOverheadBytes(gatewayId),
          build: createBatchBuilder({ gatewayId, topic, protocolVersion: options.protocolVersion }),
        }
      }
      rate = createRateLimiter(options.rateLimit, performance.now())
      poison = createPoisonDetector(options.poisonAfterDrops)
      unsubscribe = spool.onAppend(() => current?.forwarder?.wake())
      const url = new URL(options.url)
      log.info({
        upstream: `${url.protocol}//${url.host}`,
        clientId: options.clientId,
        protocolVersion: options.protocolVersion,
        envelope,
        window: options.window,
        batch: batch === undefined ? null : { maxEvents: batch.maxEvents, maxBytes: batch.maxBytes, lingerMs: batch.lingerMs },
      }, 'uplink starting')
      connect()
    },
    stop() {
      stopping ??= shutdown()
      return stopping
    },
    get status() { return status },
    stats() {
      return {
        ...counters,
        reconnects,
        inFlight: current?.forwarder?.inFlight ?? 0,
        lastError,
      }
    },
    onStatus(listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
  }
}

/** Certificate problems never heal by retrying: say which setting to look at. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * CONNACK codes that mean "these credentials are refused": 3.1.1 return codes
 * 4 (bad user name or password) and 5 (not authorized), MQTT 5 reason codes
 * 0x86 and 0x87. Retrying with the same settings will not help either.
 */
const CREDENTIAL_CODES = new Set([4, 5, 0x86, 0x87])

export function describeConnectError(err: Error & { code?: string | number }): string {
  if (typeof err.code === 'string' && TLS_VERIFY_CODES.has(err.code)) {
    return `${err.message} (${err.code}: the upstream's certificate was not accepted; check upstream.tls.ca and upstream.tls.servername)`
  }
  if (typeof err.code === 'number' && CREDENTIAL_CODES.has(err.code)) {
    return `${err.message} (the upstream refused the gateway's credentials; check upstream.username and upstream.password, ` +
      'or OUTPOST_UPSTREAM_USERNAME and OUTPOST_UPSTREAM_PASSWORD, and the client id the broker expects)'
  }
  return err.message
}
