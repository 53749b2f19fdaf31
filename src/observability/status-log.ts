import type { Logger } from 'pino'

/**
 * One info line now and then with the gateway's counters, so an operator
 * reading the log of an unattended box sees the backlog and the link state
 * without a metrics stack. Returns a stop function.
 */
export function startStatusLog(opts: { log: Logger; intervalMs: number; snapshot: () => object }): () => void {
  const timer = setInterval(() => {
    try {
      opts.log.info(opts.snapshot(), 'status')
    } catch (err) {
      opts.log.warn({ err }, 'could not collect status')
    }
  }, opts.intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
