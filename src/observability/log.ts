import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'
import type pinoPretty from 'pino-pretty'

// pino-pretty (and its colour and date libraries) is loaded only when pretty
// lines are asked for: a gateway logging JSON never holds it in memory.
const require = createRequire(import.meta.url)

export interface LogOptions {
  level: string
  format: 'json' | 'pretty'
  /** Where lines go; standard output by default. */
  destination?: NodeJS.WritableStream
}

/**
 * pino JSON lines by default (what log shippers want); `pretty` for a person
 * at a terminal. Both write synchronously, so the last lines before a crash
 * are not lost in a buffer.
 */
export function createLogger(opts: LogOptions): Logger {
  const base = { name: 'outpost' }
  if (opts.format === 'pretty') {
    const pretty = require('pino-pretty') as typeof pinoPretty
    const stream = pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', destination: opts.destination ?? 1 })
    return pino({ level: opts.level, base }, stream)
  }
  return pino({ level: opts.level, base }, opts.destination ?? pino.destination({ dest: 1, sync: true }))
}
