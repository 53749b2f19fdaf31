import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { decodeUpstreamMessage } from '../consumer/decode-message.js'
import { openDeduplicator, type Deduplicator } from '../consumer/deduplicator.js'
import type { ConsumedEvent } from '../consumer/event.js'
import { ErrorCodes, isOutpostError, OutpostError } from '../errors.js'
import { createLogger } from '../observability/log.js'
import { redactUrl } from '../uplink/client-options.js'
import { formatEvent, type OutputFormat, type PayloadEncoding } from './consume-output.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

export const CONSUME_HELP = `Usage: outpost consume --url URL --topic FILTER [options]

Subscribes to a cloud broker and prints each Outpost event once (one line per
event on standard output), dropping duplicates by event id. Logs and stats go
to standard error. Details: docs/consumer.md.

Options:
  --url URL                 broker, mqtt:// mqtts:// ws:// or wss:// (required)
  --topic FILTER            topic filter to subscribe to, QoS 1 (required, repeatable)
  --state FILE              remember emitted ids in FILE, across restarts and kill -9
  --format json|text        output lines (default json)
  --payload auto|utf8|base64  payload encoding in the output (default auto)
  --username NAME           broker user name
  --password PASS           broker password (or env OUTPOST_CONSUME_PASSWORD)
  --protocol 4|5            MQTT version (default 5)
  --client-id ID            MQTT client id (default: derived from --url and --topic)
  --session-expiry SECONDS  MQTT 5 session expiry (default 86400)
  --window N                sequence numbers remembered per gateway epoch (default 65536)
  --max-streams N           gateway epochs remembered (default 1024)
  --out-of-window emit|drop ids older than the window (default emit)
  --stats-every SECONDS     log stats this often, 0 = only at exit (default 10)
  -h, --help                show this help
`

interface ConsumeArgs {
  url: string
  topics: string[]
  state: string | undefined
  format: OutputFormat
  payload: PayloadEncoding
  username: string | undefined
  password: string | undefined
  protocol: 4 | 5
  clientId: string
  sessionExpiry: number
  window: number | undefined
  maxStreams: number | undefined
  outOfWindow: 'emit' | 'drop'
  statsEveryMs: number
}

/** Parses `outpost consume` arguments; throws OUTPOST_CLI_USAGE. */
export function parseConsumeArgs(argv: string[], env: Record<string, string | undefined>): ConsumeArgs | 'help' {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        'url': { type: 'string' },
        'topic': { type: 'string', multiple: true },
        'state': { type: 'string' },
        'format': { type: 'string' },
        'payload': { type: 'string' },
        'username': { type: 'string' },
        'password': { type: 'string' },
        'protocol': { type: 'string' },
        'client-id': { type: 'string' },
        'session-expiry': { type: 'string' },
        'window': { type: 'string' },
        'max-streams': { type: 'string' },
        'out-of-window': { type: 'string' },
        'stats-every': { type: 'string' },
        'help': { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw usage((err as Error).message)
  }
  if (values.help === true) return 'help'
  const url = values.url
  if (url === undefined) throw usage('--url is required')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw usage(`--url '${redactUrl(url)}' is not a URL`)
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(parsed.protocol)) throw usage(`--url '${redactUrl(url)}' must start with mqtt://, mqtts://, ws:// or wss://`)
  const topics = values.topic ?? []
  if (topics.length === 0) throw usage('--topic is required')
  for (const topic of topics) {
    if (topic === '' || /#./.test(topic) || /[^/]#|[^/]\+|\+[^/]/.test(topic)) throw usage(`--topic '${topic}' is not a valid MQTT topic filter`)
  }
  const protocol = oneOf('--protocol', values.protocol ?? '5', ['4', '5'] as const) === '4' ? 4 : 5
  const window = optionalInt('--window', values.window, 8)
  if (window !== undefined && window % 8 !== 0) throw usage('--window must be a multiple of 8')
  const clientId = values['client-id'] ??
    `outpost-consume-${createHash('sha256').update(`${parsed.host}\n${[...topics].sort().join('\n')}`).digest('hex').slice(0, 12)}`
  return {
    url,
    topics,
    state: values.state,
    format: oneOf('--format', values.format ?? 'json', ['json', 'text'] as const),
    payload: oneOf('--payload', values.payload ?? 'auto', ['auto', 'utf8', 'base64'] as const),
    username: values.username,
    password: values.password ?? env.OUTPOST_CONSUME_PASSWORD,
    protocol,
    clientId,
    sessionExpiry: optionalInt('--session-expiry', values['session-expiry'], 0) ?? 86_400,
    window,
    maxStreams: optionalInt('--max-streams', values['max-streams'], 1),
    outOfWindow: oneOf('--out-of-window', values['out-of-window'] ?? 'emit', ['emit', 'drop'] as const),
    statsEveryMs: (optionalInt('--stats-every', values['stats-every'], 0) ?? 10) * 1000,
  }
}

function usage(message: string): OutpostError {
  return new OutpostError(ErrorCodes.CLI_USAGE, message)
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw usage(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`)
  return value as T
}

function optionalInt(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw usage(`${flag} must be a whole number of at least ${min}, got '${value}'`)
  return n
}

/** How long to wait before retrying a state file write that failed (disk full...). */
const STATE_RETRY_MS = 1000
const STOP_TIMEOUT_MS = 5000

/**
 * `outpost consume`. Each message is decoded, deduplicated (ids on disk
 * first), printed, and only then acknowledged (the PUBACK goes out when
 * handleMessage calls back), so a consumer killed at any point gets the
 * message again from its persistent session and prints only what it had not.
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
    const attempt = (): void => {
      let fresh: ConsumedEvent[]
      try {
        fresh = dedup.accept(events)
      } catch (err) {
        if (!isOutpostError(err, ErrorCodes.CONSUMER_STATE)) throw err
        // Not acknowledged, not printed: retried until the disk accepts it (or the consumer is stopped).
        log.error({ code: err.code, retryInMs: STATE_RETRY_MS }, err.message)
        if (!stopping) setTimeout(attempt, STATE_RETRY_MS)
        return
      }
      if (fresh.length > 0) {
        let out = ''
        for (const event of fresh) out += formatEvent(event, args.format, args.payload)
        io.stdout.write(out)
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
  const onSignal = (): void => stop(ExitCodes.OK)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const code = await finished
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  return code
}
