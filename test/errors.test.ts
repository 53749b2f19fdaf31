import { readFileSync } from 'node:fs'
import t from 'tap'
import { ErrorCodes, OutpostError, isOutpostError } from '../src/errors.js'

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = new Set([...doc.matchAll(/^\| `(OUTPOST_[A-Z_]+)` \|/gm)].map((m) => m[1]))

t.test('every error code is documented, and every documented code exists', async (t) => {
  const codes = Object.values(ErrorCodes)
  t.same(codes.filter((c) => !documented.has(c)), [], 'missing from docs/errors.md')
  t.same([...documented].filter((c) => !codes.includes(c as never)), [], 'documented but not in src/errors.ts')
  t.equal(new Set(codes).size, codes.length, 'codes are unique')
})

t.test('OutpostError carries its code and cause', async (t) => {
  const cause = new Error('root')
  const err = new OutpostError(ErrorCodes.SPOOL_WRITE, 'boom', { cause })
  t.equal(err.code, 'OUTPOST_SPOOL_WRITE')
  t.equal(err.cause, cause)
  t.ok(isOutpostError(err, ErrorCodes.SPOOL_WRITE))
  t.notOk(isOutpostError(err, ErrorCodes.SPOOL_OPEN))
  t.notOk(isOutpostError(cause))
})
