import { resolve } from 'node:path'
import type { OutpostConfig } from '../config/index.js'
import { ContractError } from '../contracts/contract-error.js'
import { loadContracts } from '../contracts/loader.js'
import type { Contract } from '../contracts/types.js'
import { CommandExit, commandConfig } from './command-config.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

/**
 * Contracts for `docs` and `simulate`: from --contracts DIR, else the
 * configuration's contracts.dir. A broken contract prints its problems and
 * exits 78, as at start-up.
 */
export function contractsFor(flag: string | undefined, configFile: string | undefined, io: CliIo, needConfig: boolean): { contracts: Contract[]; config: OutpostConfig | null } {
  const config = needConfig || flag === undefined ? commandConfig(configFile, io).config : null
  const dir = flag ?? config?.contracts.dir ?? null
  if (dir === null) {
    io.stderr.write('outpost: no contracts: pass --contracts DIR or set contracts.dir in the configuration\n')
    throw new CommandExit(ExitCodes.USAGE)
  }
  try {
    return { contracts: loadContracts(resolve(dir)), config }
  } catch (err) {
    if (err instanceof ContractError) {
      io.stderr.write(`outpost: ${err.message}\n`)
      throw new CommandExit(ExitCodes.CONFIG)
    }
    throw err
  }
}
