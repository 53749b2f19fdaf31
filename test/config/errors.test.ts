import { join } from 'node:path'
import t from 'tap'
import { caughtConfigError } from '../helpers/config-error.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import { formatConfigError, loadConfig, parseConfig } from '../../src/config/index.js'

const SOURCE = 'config/outpost.yaml'

const caught = caughtConfigError

const failure = (text: string) => caught(() => parseConfig(text, { source: SOURCE }))

t.test('an unknown key is named, with a suggestion for a near miss', async (t) => {
  const err = failure('broker:\n  prot: 1884\n')
  t.equal(err.code, ErrorCodes.CONFIG_INVALID)
  t.ok(isOutpostError(err, ErrorCodes.CONFIG_INVALID))
  t.strictSame(err.issues, [{ source: SOURCE, path: 'broker.prot', message: 'unknown key (did you mean "port"?)' }])
  t.equal(formatConfigError(err), [
    'invalid configuration (1 problem):',
    '  config/outpost.yaml: broker.prot: unknown key (did you mean "port"?)',
  ].join('\n'))
  t.equal(err.message, formatConfigError(err))
})

t.test('suggestions cover case and snake_case slips, and stay quiet for strangers', async (t) => {
  t.equal(failure('gateway:\n  data_dir: /x\n').issues[0]?.message, 'unknown key (did you mean "dataDir"?)')
  t.equal(failure('Broker: {}\n').issues[0]?.message, 'unknown key (did you mean "broker"?)')
  t.equal(failure('colour: blue\n').issues[0]?.message, 'unknown key')
})

t.test('every problem is reported at once, grouped by section', async (t) => {
  const err = failure([
    'brokr: {}',
    'log:',
    '  level: warning',
    'broker:',
    '  port: abc',
    '  maxPayloadBytes: 0',
    'forward:',
    '  include: ["a/#/b"]',
    '  qos0: yes',
    'upstream:',
    '  url: http://cloud',
    '  protocolVersion: 3',
    '  password: 1234',
    '  reconnect: { initialDelayMs: 60000 }',
    '',
  ].join('\n'))
  t.equal(formatConfigError(err), [
    'invalid configuration (10 problems):',
    '  config/outpost.yaml: brokr: unknown key (did you mean "broker"?)',
    '  config/outpost.yaml: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "warning" (did you mean "warn"?)',
    '  config/outpost.yaml: broker.port: expected integer 0..65535, got "abc"',
    '  config/outpost.yaml: broker.maxPayloadBytes: expected integer 1..268435455, got 0',
    '  config/outpost.yaml: forward.qos0: expected true or false, got "yes"',
    '  config/outpost.yaml: forward.include[0]: "#" must be a whole level and the last one, got "a/#/b"',
    '  config/outpost.yaml: upstream.url: expected a URL starting with mqtt:// or mqtts://, got "http://cloud"',
    '  config/outpost.yaml: upstream.protocolVersion: expected one of 4, 5, got 3',
    '  config/outpost.yaml: upstream.password: expected string or null, got a value not shown here (secret)',
    '  config/outpost.yaml: upstream.reconnect.initialDelayMs: must not exceed upstream.reconnect.maxDelayMs (30000), got 60000',
  ].join('\n'))
})

t.test('a missing required key, and a wrong type for a whole section', async (t) => {
  t.strictSame(failure('upstream:\n  username: u\n').issues, [
    { source: SOURCE, path: 'upstream.url', message: 'required key is missing (or set OUTPOST_UPSTREAM_URL)' },
  ])
  t.strictSame(failure('spool: 5\nupstream: []\n').issues, [
    { source: SOURCE, path: 'spool', message: 'expected a mapping, got 5' },
    { source: SOURCE, path: 'upstream', message: 'expected a mapping or null, got a list' },
  ])
  t.strictSame(failure('- a\n- b\n').issues, [{ source: SOURCE, path: '', message: 'expected a mapping, got a list' }])
})

t.test('credentials in a URL are masked in errors', async (t) => {
  const message = failure('upstream:\n  url: http://user:hunter2@cloud\n').issues[0]?.message ?? ''
  t.match(message, '"http://***@cloud"')
  t.notMatch(message, 'hunter2')
})

t.test('a YAML syntax error names file, line and column', async (t) => {
  const err = failure('broker:\n  port: 1883\n host: x\n')
  t.equal(err.code, ErrorCodes.CONFIG_INVALID)
  t.equal(err.issues.length, 1)
  t.equal(err.issues[0]?.source, SOURCE)
  t.equal(err.issues[0]?.path, '')
  t.match(err.issues[0]?.message, /^YAML syntax error at line 3, column 1: \S/)
  t.match(formatConfigError(err), /^invalid configuration \(1 problem\):\n {2}config\/outpost\.yaml: YAML syntax error at line 3, column 1: /)
})

t.test('duplicate keys and several documents are syntax errors', async (t) => {
  t.match(failure('log: {}\nlog: {}\n').issues[0]?.message, /^YAML syntax error at line 2, column 1: /)
  t.match(failure('log: {}\n---\nlog: {}\n').issues[0]?.message, /more than one YAML document/)
})

t.test('an unreadable file is OUTPOST_CONFIG_READ, with the cause', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'missing.yaml')
  const err = caught(() => loadConfig({ file }))
  t.equal(err.code, ErrorCodes.CONFIG_READ)
  t.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT')
  t.equal(formatConfigError(err), `cannot read configuration (1 problem):\n  ${file}: cannot read the file: no such file (ENOENT)`)
  const dirErr = caught(() => loadConfig({ file: dir }))
  t.equal(dirErr.code, ErrorCodes.CONFIG_READ)
  t.equal(dirErr.issues[0]?.message, 'cannot read the file: it is a directory (EISDIR)')
})

t.test('loadConfig names the file as given in its issues', async (t) => {
  const file = join(t.testdir({ 'outpost.yaml': 'log:\n  format: text\n' }), 'outpost.yaml')
  t.strictSame(caught(() => loadConfig({ file })).issues, [
    { source: file, path: 'log.format', message: 'expected one of "json", "pretty", got "text"' },
  ])
})
