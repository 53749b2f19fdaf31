import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { ErrorCodes, OutpostError } from '../errors.js'
import { redactUrl } from '../uplink/client-options.js'
import type { OutputFormat, PayloadEncoding } from './consume-output.js'

/** `outpost consume`'s command line: help text and a parser that checks every value. */

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

export interface ConsumeArgs {
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
