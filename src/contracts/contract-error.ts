import { ErrorCodes, OutpostError } from '../errors.js'

/** One problem in a contract folder: file, JSON pointer, line and column when known. */
export interface ContractIssue {
  file: string
  pointer?: string
  line?: number
  col?: number
  message: string
}

export function formatIssue(i: ContractIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.col ?? 1}`
  const pointer = i.pointer === undefined || i.pointer === '' ? '' : ` (at ${i.pointer})`
  return `${where}${pointer}: ${i.message}`
}

/** A contract that cannot be used: start-up stops (exit code 78) with every problem listed. */
export class ContractError extends OutpostError {
  readonly issues: readonly ContractIssue[]

  constructor(issues: readonly ContractIssue[]) {
    const head = issues.length === 1 ? 'invalid device contract' : `invalid device contracts (${issues.length} problems)`
    super(ErrorCodes.CONTRACT_INVALID, `${head}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`)
    this.name = 'ContractError'
    this.issues = issues
  }
}
