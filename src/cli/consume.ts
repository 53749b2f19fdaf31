import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { decodeUpstreamMessage } from '../consumer/decode-message.js'
import { openDeduplicator, type Deduplicator } from '../consumer/deduplicator.js'
import type { ConsumedEvent } from '../consumer/event.js'
import { ErrorCodes, isOutpostError, OutpostError } from '../errors.js'
import { createLogger } from '../observability/log.js'
import { redactUrl } from '../uplink/client-options.js'
import { CONSUME_HELP, parseConsumeArgs } from './consume-args.js'
import { formatEvent } from './consume-output.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

/** How long to wait before retrying a state file write that failed (disk full...). */
const STATE_RETRY_MS = 1000
const STOP_TIMEOUT_MS = 5000

/**
 * `outpost consume`. Each message is decoded, deduplicated (ids written to
 * the state file first), printed, fdatasync'd, and only then acknowledged
 * (the PUBACK goes out when handleMessage calls back), so a consumer killed at
 * any point gets the message again from its persistent session and prints
 * only what it had not.
 */
export async function consumeCommand(argv: string[], io: CliIo): Promise<number> {
  let args
  try {
    args = parseConsumeArgs(argv, io.env)
  } catch (err) {
    if (isOutpostError(err, ErrorCodes.CLI_USAGE)) {
      io.stderr.write(`outpost consume: ${err.message}\n\n${CONSUME_HELP}`)
      return ExitCodes.USAGE
    }
    throw err
  }
  if (args === 'help') {
    io.stdout.write(CONSUME_HELP)
    return ExitCodes.OK
  }
  const log = createLogger({ level: 'info', format: 'json', destination: io.stderr })

  let dedup: Deduplicator
  try {
    dedup = openDeduplicator({
      ...(args.state !== undefined && { stateFile: args.state }),
      ...(args.window !== undefined && { window: args.window }),
      ...(args.maxStreams !== undefined && { maxStreams: args.maxStreams }),
      outOfWindow: args.outOfWindow,
      onWarning: (message) => log.warn(message),
    })
  } catch (err) {
    if (err instanceof OutpostError) {
      io.stderr.write(`outpost consume: ${err.message} (${err.code})\n`)
      return ExitCodes.FAILURE
    }
    throw err
  }
  const r = dedup.recovery
  if (r !== undefined) {
    const fields = { state: args.state, created: r.created, tornBytes: r.tornBytes, badLines: r.badLines, staleLock: r.staleLock, remembered: dedup.stats().streams + dedup.stats().otherIds }
    if (r.badLines > 0) log.warn(fields, 'state file had damaged lines: they were skipped and the file rewritten; an event whose id was on such a line can be printed once more')
    else log.info(fields, 'state file opened')
  }

  const counts = { messages: 0, invalid: 0 }
  const statsFields = (): Record<string, number> => ({ ...counts, ...dedup.stats() })
  let stopping = false
  const options: IClientOptions = {
    clientId: args.clientId,
    clean: false,
    protocolVersion: args.protocol,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    resubscribe: false,
  }
  if (args.protocol === 5) options.properties = { sessionExpiryInterval: args.sessionExpiry }
  if (args.username !== undefined) options.username = args.username
  if (args.password !== undefined) options.password = args.password
  const client: MqttClient = connect(args.url, options)

  client.handleMessage = (packet: IPublishPacket, done) => {
    // Stopping: neither handled nor acknowledged; the broker delivers it again next time.
    if (stopping) return
    counts.messages++
    let events: ConsumedEvent[]
    try {
      events = decodeUpstreamMessage(packet)
    } catch (err) {
      if (!(err instanceof OutpostError)) throw err
      // Acknowledged anyway: a broker would re-deliver it forever. Logged whole, so nothing is lost silently.
      counts.invalid++
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      log.error({ code: err.code, topic: packet.topic, payloadBase64: payload.toString('base64') }, err.message)
      done()
      return
    }
    // Ids written to the state file, then printed, then fdatasync'd, then
    // acknowledged: see docs/consumer.md.
    const attempt = (): void => {
      let fresh: ConsumedEvent[]
      try {
        fresh = dedup.accept(events, { sync: false })
      } catch (err) {
        if (!isOutpostError(err, ErrorCodes.CONSUMER_STATE)) throw err
        // Not acknowledged, not printed: retried until the disk accepts it (or the consumer is stopped).
        log.error({ code: err.code, retryInMs: STATE_RETRY_MS }, err.message)
        if (!stopping) setTimeout(attempt, STATE_RETRY_MS)
        return
      }
      if (fresh.length === 0) {
        acknowledge()
        return
      }
      let out = ''
      for (const event of fresh) out += formatEvent(event, args.format, args.payload)
      // A pipe whose reader lags queues writes inside this process: wait until
      // the lines are handed to the kernel before going on, so at most this
      // one message's lines can die with the process.
      io.stdout.write(out, (err) => {
        if (err) {
          log.error({ err: err.message }, 'cannot write to standard output; stopping (this message is not acknowledged)')
          stop(ExitCodes.FAILURE)
          return
        }
        acknowledge()
      })
    }
    const acknowledge = (): void => {
      try {
        dedup.sync()
      } catch (err) {
        if (!isOutpostError(err, ErrorCodes.CONSUMER_STATE)) throw err
        log.error({ code: err.code, retryInMs: STATE_RETRY_MS }, err.message)
        if (!stopping) setTimeout(acknowledge, STATE_RETRY_MS)
        return
      }
      done()
    }
    attempt()
  }

  // With a session the broker kept (sessionPresent), the subscriptions are still there.
  client.on('connect', (connack) => {
    log.info({ url: redactUrl(args.url), clientId: args.clientId, sessionPresent: connack.sessionPresent }, 'connected')
    if (connack.sessionPresent) {
      log.info({ topics: args.topics }, 'subscribed')
      return
    }
    client.subscribe(args.topics, { qos: 1 }, (err, granted) => {
      const refused = (granted ?? []).filter((g) => g.qos >= 0x80)
      if (err || refused.length > 0) {
        const why = err ? err.message : refused.map((g) => `${g.topic} (reason 0x${g.qos.toString(16)})`).join(', ')
        log.error({ topics: args.topics }, `subscription refused: ${why}`)
        io.stderr.write(`outpost consume: the broker refused the subscription: ${why}\n`)
        stop(ExitCodes.FAILURE)
        return
      }
      log.info({ topics: args.topics }, 'subscribed')
    })
  })
  client.on('error', (err) => log.warn({ err: err.message }, 'connection error; reconnecting'))
  client.on('offline', () => log.warn('disconnected; reconnecting'))

  const timer = args.statsEveryMs > 0 ? setInterval(() => log.info(statsFields(), 'consumer stats'), args.statsEveryMs) : undefined
  timer?.unref()

  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => { finish = resolve })
  function stop(code: number): void {
    if (stopping) return
    stopping = true
    if (timer !== undefined) clearInterval(timer)
    let closed = false
    const close = (): void => {
      if (closed) return
      closed = true
      clearTimeout(force)
      dedup.close()
      log.info(statsFields(), 'consumer stopped')
      finish(code)
    }
    // A broker that does not answer must not keep the consumer from exiting.
    const force = setTimeout(() => client.end(true, {}, close), STOP_TIMEOUT_MS)
    client.end(false, {}, close)
  }
  // Write errors (EPIPE: the reader went away) arrive in the write callback above.
  const ignoreOutputError = (): void => {}
  io.stdout.on('error', ignoreOutputError)
  const onSignal = (): void => stop(ExitCodes.OK)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const code = await finished
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  io.stdout.off?.('error', ignoreOutputError)
  return code
}
