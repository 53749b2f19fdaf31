/**
 * `loadConfig` in a short-lived child process, for the long-running
 * `outpost start`.
 *
 * Reading, parsing and validating the config loads the YAML parser, the
 * TypeBox schema (about 200 modules) and ajv with its generated validator.
 * In the gateway's own process they would stay in memory for its whole life
 * (JavaScript cannot unload a module), and they are needed once. A worker
 * thread is not enough: the memory its parsers and compilers allocate stays
 * with the process's allocator after the worker ends. A child process gives
 * all of it back; only the resolved config, plain data, comes over. Measured
 * in docs/performance.md ("Idle memory").
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ErrorCodes } from '../errors.js'
import { ConfigError, type ConfigIssue } from './config-error.js'
import type { Env } from './env.js'
import { deepFreeze } from './freeze.js'
import type { OutpostConfig } from './schema.js'

export type IsolatedLoadReply =
  | { ok: true; config: OutpostConfig }
  | { ok: false; code: typeof ErrorCodes.CONFIG_INVALID | typeof ErrorCodes.CONFIG_READ; issues: ConfigIssue[] }
  | { ok: false; message: string }

// Next to this file: load-child.js when built; load-child.ts when run from
// source, where the child needs this process's loader flags to read it.
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const CHILD = fileURLToPath(new URL(`./load-child${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url))

/**
 * The same result as `loadConfig`: the frozen config, or a `ConfigError` with
 * the same issues. Anything else that goes wrong in the child is a
 * ConfigError (OUTPOST_CONFIG_READ) that says so.
 */
export function loadConfigIsolated(opts: { file: string; env?: Env }): Promise<OutpostConfig> {
  return new Promise((resolve, reject) => {
    let reply: IsolatedLoadReply | undefined
    let stderr = ''
    const child = fork(CHILD, [opts.file], {
      env: { ...(opts.env ?? {}) },
      // Not the gateway's own flags (a --cpu-prof would profile the loader too).
      execArgv: FROM_SOURCE ? process.execArgv : [],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    child.stderr?.setEncoding('utf8').on('data', (text: string) => { stderr = (stderr + text).slice(-2000) })
    child.once('message', (m: IsolatedLoadReply) => { reply = m })
    child.once('error', (err) => { reply ??= { ok: false, message: err.message } })
    child.once('close', (code, signal) => {
      const why = stderr.trim().split('\n').at(-1) ?? ''
      reply ??= { ok: false, message: `it ended (${signal ?? `exit code ${code}`}) without a result${why === '' ? '' : `: ${why}`}` }
      if (reply.ok) resolve(deepFreeze(reply.config))
      else if ('issues' in reply) reject(new ConfigError(reply.issues, { code: reply.code }))
      else reject(new ConfigError([{ source: opts.file, path: '', message: `the config loader failed: ${reply.message}` }], { code: ErrorCodes.CONFIG_READ }))
    })
  })
}
