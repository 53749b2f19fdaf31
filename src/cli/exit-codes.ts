/** Process exit codes of the `outpost` command (documented in docs/cli.md). */
export const ExitCodes = {
  OK: 0,
  /** A runtime failure: spool locked or unreadable, port in use, ... */
  FAILURE: 1,
  /** Wrong command line. */
  USAGE: 2,
  /** The configuration is invalid or unreadable (sysexits EX_CONFIG). */
  CONFIG: 78,
} as const
