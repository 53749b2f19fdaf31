import { ErrorCodes, OutpostError } from '../errors.js'

/** One problem with the configuration, and where it came from. */
export interface ConfigIssue {
  /** The config file path as given, or `env OUTPOST_X` for an environment variable. */
  source: string
  /** Dotted key path, e.g. `upstream.reconnect.maxDelayMs` or `forward.include[2]`; empty for the file as a whole. */
  path: string
  message: string
}

type ConfigErrorCode = typeof ErrorCodes.CONFIG_INVALID | typeof ErrorCodes.CONFIG_READ

/** Every problem found in one pass, formatted into the message. */
export class ConfigError extends OutpostError {
  readonly issues: ConfigIssue[]

  constructor(issues: ConfigIssue[], options: { code?: ConfigErrorCode; cause?: unknown } = {}) {
    const code = options.code ?? ErrorCodes.CONFIG_INVALID
    super(code, formatIssues(code, issues), { cause: options.cause })
    this.name = 'ConfigError'
    this.issues = issues
  }
}

function formatIssues(code: ConfigErrorCode, issues: readonly ConfigIssue[]): string {
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`
  const head = code === ErrorCodes.CONFIG_READ ? `cannot read configuration (${count}):` : `invalid configuration (${count}):`
  const lines = issues.map(({ source, path, message }) => `  ${source}: ${path === '' ? '' : `${path}: `}${message}`)
  return [head, ...lines].join('\n')
}

/**
 * A multi-line report for people:
 *
 *     invalid configuration (2 problems):
 *       config/outpost.yaml: broker.prot: unknown key (did you mean "port"?)
 *       env OUTPOST_MQTT_PORT: broker.port: expected integer 0..65535, got "abc"
 */
export function formatConfigError(err: ConfigError): string {
  return formatIssues(err.code === ErrorCodes.CONFIG_READ ? err.code : ErrorCodes.CONFIG_INVALID, err.issues)
}
