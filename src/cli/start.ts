import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigError, formatConfigError } from '../config/config-error.js'
import { loadConfigIsolated } from '../config/load-isolated.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import { startGateway, type GatewayStats } from '../gateway.js'
import { createLogger } from '../observability/log.js'
import { allowYoungGenerationGrowth, disableMqttNumberCache, startIdleGc } from '../observability/memory.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

const SHIPPED_CONFIG = fileURLToPath(new URL('../../config/outpost.yaml', import.meta.url))
const STOP_TIMEOUT_MS = 10_000

/** The config file to use: --config, else ./config/outpost.yaml, else the one shipped in the package. */
export function pickConfigFile(flag: string | undefined): string {
  if (flag !== undefined) return flag
  return existsSync('config/outpost.yaml') ? 'config/outpost.yaml' : SHIPPED_CONFIG
}

/** A number that moves whenever events come in, are refused, or leave for the cloud. */
export function activityOf(s: GatewayStats): number {
  const i = s.ingest
  return s.spool.appended + s.spool.acked + s.spool.rejected + i.duplicates + i.refused + i.notForwarded + i.qos0Dropped + i.deadLettered + s.devices
}

/**
 * `outpost start`: load and validate the config (refuse to start on any
 * problem, without a stack trace: a config mistake is the user's, not a
 * crash), start the gateway, stop cleanly on SIGINT/SIGTERM.
 */
export async function startCommand(opts: { configFile: string | undefined; io: CliIo }): Promise<number> {
  const { io } = opts
  const file = pickConfigFile(opts.configFile)
  let config
  try {
    config = await loadConfigIsolated({ file, env: io.env })
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`outpost: ${formatConfigError(err)}\n`)
      return ExitCodes.CONFIG
    }
    throw err
  }
  const log = createLogger({ level: config.log.level, format: config.log.format })
  log.info({ config: file }, 'configuration loaded')
  // A bug must not leave a half-working gateway: log it and exit, and let the
  // supervisor start a fresh process. Every acknowledged event is on disk.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'unexpected error; exiting (stored events are safe on disk)')
    process.exit(ExitCodes.FAILURE)
  })

  disableMqttNumberCache(log)
  let gateway
  try {
    gateway = await startGateway({ config, log })
  } catch (err) {
    if (err instanceof OutpostError && err.code === ErrorCodes.CONTRACT_INVALID) {
      // A broken device contract is a configuration mistake: same exit code.
      log.fatal({ code: err.code }, err.message)
      io.stderr.write(`outpost: ${err.message}\n`)
      return ExitCodes.CONFIG
    }
    if (err instanceof OutpostError) {
      log.fatal({ code: err.code, err: err.cause }, err.message)
      io.stderr.write(`outpost: ${err.message} (${err.code})\n`)
      return ExitCodes.FAILURE
    }
    throw err
  }

  const running = gateway
  allowYoungGenerationGrowth()
  const stopIdleGc = startIdleGc({ activity: () => activityOf(running.stats()), log })
  return await new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now (stored events are safe on disk)')
        process.exit(ExitCodes.FAILURE)
      }
      stopping = true
      stopIdleGc()
      log.info({ signal }, 'stopping')
      const timer = setTimeout(() => {
        log.error('shutdown took too long; exiting (stored events are safe on disk)')
        process.exit(ExitCodes.FAILURE)
      }, STOP_TIMEOUT_MS)
      timer.unref()
      running.stop().then(() => {
        clearTimeout(timer)
        log.info('stopped')
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        resolve(ExitCodes.OK)
      }, (err: unknown) => {
        log.error({ err }, 'error while stopping')
        resolve(ExitCodes.FAILURE)
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
