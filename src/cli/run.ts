import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ErrorCodes, OutpostError } from '../errors.js'
import { consumeCommand } from './consume.js'
import { ExitCodes } from './exit-codes.js'
import { startCommand } from './start.js'

export interface CliIo {
  env: Record<string, string | undefined>
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const HELP = `Usage: outpost <command> [options]

Commands:
  start [--config FILE]   run the gateway (default config: config/outpost.yaml)
  consume --url URL --topic FILTER [...]
                          print each event from a cloud broker once (consume --help)

Options:
  -h, --help              show this help
  -v, --version           show the version

Environment overrides (OUTPOST_MQTT_PORT, OUTPOST_UPSTREAM_URL, OUTPOST_DATA_DIR,
OUTPOST_GATEWAY_ID, ...) are listed in docs/configuration.md.
`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Parses the command line and runs one command; returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  // consume has its own options, parsed by the command.
  if (argv[0] === 'consume') return await consumeCommand(argv.slice(1), io)
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    io.stderr.write(`outpost: ${(err as Error).message}\n\n${HELP}`)
    return ExitCodes.USAGE
  }
  const { values, positionals } = parsed
  if (values.version) {
    io.stdout.write(`${version()}\n`)
    return ExitCodes.OK
  }
  const [command, ...rest] = positionals
  if (values.help || command === undefined || command === 'help') {
    io.stdout.write(HELP)
    return command === undefined && !values.help ? ExitCodes.USAGE : ExitCodes.OK
  }
  try {
    switch (command) {
      case 'start':
        if (rest.length > 0) throw new OutpostError(ErrorCodes.CLI_USAGE, `start takes no arguments, got "${rest.join(' ')}"`)
        return await startCommand({ configFile: values.config, io })
      default:
        throw new OutpostError(ErrorCodes.CLI_USAGE, `unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof OutpostError && err.code === ErrorCodes.CLI_USAGE) {
      io.stderr.write(`outpost: ${err.message}\n\n${HELP}`)
      return ExitCodes.USAGE
    }
    throw err
  }
}
