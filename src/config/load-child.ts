/**
 * The child process of load-isolated.ts: loads the config file named in its
 * arguments, with its own environment as the `OUTPOST_*` overrides, sends the
 * result or the problems back over IPC, and exits.
 */
import { ErrorCodes } from '../errors.js'
import { ConfigError } from './config-error.js'
import { loadConfig } from './load.js'
import type { IsolatedLoadReply } from './load-isolated.js'

let reply: IsolatedLoadReply
try {
  reply = { ok: true, config: loadConfig({ file: process.argv[2] ?? '', env: process.env }) }
} catch (err) {
  reply = err instanceof ConfigError
    ? { ok: false, code: err.code === ErrorCodes.CONFIG_READ ? ErrorCodes.CONFIG_READ : ErrorCodes.CONFIG_INVALID, issues: err.issues }
    : { ok: false, message: err instanceof Error ? err.message : String(err) }
}
// The parent may be gone (a signal during start-up): then there is no one to tell.
process.send?.(reply, () => { if (process.connected) process.disconnect() })
