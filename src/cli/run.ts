import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ErrorCodes, OutpostError } from '../errors.js'
import { allowYoungGenerationGrowth } from '../observability/memory.js'
import { ExitCodes } from './exit-codes.js'

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
  dlq list [--limit N] [--json]         events a device contract refused
  dlq show SEQ                          one of them, with payload and reasons
  dlq replay [SEQ...]                   check them again against the current
                                        contracts; those that pass go to the spool
  dlq purge SEQ... | --all              delete them
  docs [--out DIR] [--format md|html]   the gateway's AsyncAPI document and a page
  simulate DEVICE-TYPE --gateway URL --count N --rate R [--invalid-ratio X]
       [--devices K] [--seed S]         publish generated payloads
  (dlq, docs and simulate read --config like start; docs and simulate also
  take --contracts DIR; dlq needs the gateway stopped)

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

// Each command is imported when it runs: a long-running `start` never holds the
// code (and the heap) of consume, dlq, docs and simulate, which pull in the
// contract tools, ajv for AsyncAPI and an MQTT client of their own.

/** Parses the command line and runs one command; returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  // main.ts kept V8's young generation small while the modules loaded; every
  // command but start (which does it once the gateway runs) lets it grow now.
  if (argv[0] !== 'start') allowYoungGenerationGrowth()
  // consume has its own options, parsed by the command.
  if (argv[0] === 'consume') return await (await import('./consume.js')).consumeCommand(argv.slice(1), io)
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
        limit: { type: 'string' },
        all: { type: 'boolean' },
        out: { type: 'string' },
        format: { type: 'string' },
        contracts: { type: 'string' },
        gateway: { type: 'string' },
        count: { type: 'string' },
        rate: { type: 'string' },
        'invalid-ratio': { type: 'string' },
        devices: { type: 'string' },
        seed: { type: 'string' },
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
        return await (await import('./start.js')).startCommand({ configFile: values.config, io })
      case 'dlq': {
        const limit = values.limit === undefined ? undefined : Number(values.limit)
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new OutpostError(ErrorCodes.CLI_USAGE, `--limit must be a positive integer, got "${values.limit ?? ''}"`)
        return await (await import('./dlq.js')).dlqCommand({ sub: rest[0], rest: rest.slice(1), configFile: values.config, json: values.json === true, limit, all: values.all === true, io })
      }
      case 'docs':
        if (rest.length > 0) throw new OutpostError(ErrorCodes.CLI_USAGE, `docs takes no arguments, got "${rest.join(' ')}"`)
        return await (await import('./docs.js')).docsCommand({ configFile: values.config, contractsDir: values.contracts, out: values.out, format: values.format, io })
      case 'simulate':
        if (rest.length > 1) throw new OutpostError(ErrorCodes.CLI_USAGE, `simulate takes one device type, got "${rest.join(' ')}"`)
        return await (await import('./simulate.js')).simulateCommand({
          deviceType: rest[0], gateway: values.gateway, count: values.count, rate: values.rate, invalidRatio: values['invalid-ratio'],
          devices: values.devices, seed: values.seed, contractsDir: values.contracts, configFile: values.config, json: values.json === true, io,
        })
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
