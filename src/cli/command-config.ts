import { resolve } from 'node:path'
import { ConfigError, formatConfigError, loadConfig, type OutpostConfig } from '../config/index.js'
import { createLogger } from '../observability/log.js'
import type { Logger } from 'pino'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'
import { pickConfigFile } from './start.js'

/** Thrown by the commands to leave with an exit code after writing their message. */
export class CommandExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`)
  }
}

/**
 * The configuration for a command other than `start` (dlq, docs, simulate),
 * read the same way `start` reads it. Problems print as for `start` and exit 78.
 */
export function commandConfig(configFile: string | undefined, io: CliIo): { config: OutpostConfig; dataDir: string; log: Logger } {
  const file = pickConfigFile(configFile)
  try {
    const config = loadConfig({ file, env: io.env })
    // Store logs (spool opened, ...) go to stderr at warn, so stdout holds only the command's output.
    const log = createLogger({ level: 'warn', format: config.log.format, destination: io.stderr })
    return { config, dataDir: resolve(config.gateway.dataDir), log }
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`outpost: ${formatConfigError(err)}\n`)
      throw new CommandExit(ExitCodes.CONFIG)
    }
    throw err
  }
}
