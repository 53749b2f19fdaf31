import { pino, type Logger } from 'pino'

export interface CapturedLog {
  log: Logger
  lines: Array<Record<string, unknown> & { msg?: string; level: number }>
  /** Lines whose msg contains the text. */
  find(text: string): Array<Record<string, unknown>>
}

/** A real pino logger that keeps its JSON lines in memory for assertions. */
export function captureLog(level = 'debug'): CapturedLog {
  const lines: CapturedLog['lines'] = []
  const log = pino({ level }, { write: (s: string) => { lines.push(JSON.parse(s)) } })
  return {
    log,
    lines,
    find: (text) => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(text)),
  }
}
