import t from 'tap'
import { parseConsumeArgs } from '../../src/cli/consume-args.js'
import { formatEvent, payloadText } from '../../src/cli/consume-output.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import type { ConsumedEvent } from '../../src/consumer/event.js'

function usageMessage(argv: string[]): string {
  try {
    parseConsumeArgs(argv, {})
  } catch (err) {
    if (isOutpostError(err, ErrorCodes.CLI_USAGE)) return err.message
    throw err
  }
  return 'no error'
}

t.test('arguments: defaults, repeats, environment', async (t) => {
  const a = parseConsumeArgs(['--url', 'mqtt://127.0.0.1:1883', '--topic', 'a/#', '--topic', 'b/+/c'], { OUTPOST_CONSUME_PASSWORD: 'pw' })
  t.not(a, 'help')
  if (a === 'help') return
  t.match(a, { topics: ['a/#', 'b/+/c'], format: 'json', payload: 'auto', protocol: 5, sessionExpiry: 86400, outOfWindow: 'emit', statsEveryMs: 10_000, password: 'pw', state: undefined })
  t.match(a.clientId, /^outpost-consume-[0-9a-f]{12}$/)
  const b = parseConsumeArgs(['--topic', 'b/+/c', '--topic', 'a/#', '--url', 'mqtt://127.0.0.1:1883'], {})
  t.equal(b !== 'help' && b.clientId, a.clientId, 'the default client id is stable, whatever the topic order')
  const c = parseConsumeArgs(['--url', 'mqtt://127.0.0.1:1883', '--topic', 'x', '--client-id', 'me', '--protocol', '4', '--window', '1024', '--stats-every', '0', '--format', 'text', '--password', 'flag'], { OUTPOST_CONSUME_PASSWORD: 'env' })
  t.match(c, { clientId: 'me', protocol: 4, window: 1024, statsEveryMs: 0, format: 'text', password: 'flag' })
  t.equal(parseConsumeArgs(['--help'], {}), 'help')
})

t.test('arguments: every mistake is a usage error that says what is wrong', async (t) => {
  const url = ['--url', 'mqtt://127.0.0.1:1883']
  t.match(usageMessage(['--topic', 'a']), /--url is required/)
  t.match(usageMessage(url), /--topic is required/)
  t.match(usageMessage(['--url', 'http://x', '--topic', 'a']), /must start with mqtt/)
  t.match(usageMessage(['--url', 'mqtt://u:secret@h', '--topic', 'a', '--protocol', '3']), /--protocol must be one of 4, 5/)
  t.match(usageMessage(['--url', 'nope', '--topic', 'a']), /not a URL/)
  t.match(usageMessage([...url, '--topic', 'a/#/b']), /not a valid MQTT topic filter/)
  t.match(usageMessage([...url, '--topic', 'a+']), /not a valid MQTT topic filter/)
  t.match(usageMessage([...url, '--topic', 'a', '--window', '12']), /multiple of 8/)
  t.match(usageMessage([...url, '--topic', 'a', '--max-streams', '0']), /--max-streams must be a whole number of at least 1/)
  t.match(usageMessage([...url, '--topic', 'a', '--stats-every', '1.5']), /--stats-every/)
  t.match(usageMessage([...url, '--topic', 'a', '--format', 'xml']), /--format must be one of json, text/)
  t.match(usageMessage([...url, '--topic', 'a', '--nope']), /Unknown option/)
  t.notMatch(usageMessage(['--url', 'http://u:secret@h', '--topic', 'a']), /secret/, 'no password in messages')
})

t.test('output lines', async (t) => {
  const e: ConsumedEvent = { id: 'gw-1-2', clientId: 'd', topic: 'dev/t', upstreamTopic: 'up/dev/t', acceptedAt: 5, qos: 1, retain: false, payload: Buffer.from('héllo\n'), historical: false, format: 'batch' }
  const line = formatEvent(e, 'json', 'auto')
  t.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line, even with a newline in the payload')
  t.same(JSON.parse(line), { id: 'gw-1-2', clientId: 'd', topic: 'dev/t', upstreamTopic: 'up/dev/t', acceptedAt: 5, qos: 1, retain: false, historical: false, meta: null, payload: 'héllo\n', encoding: 'utf8', format: 'batch' })
  const raw: ConsumedEvent = { upstreamTopic: 'up/x', payload: new Uint8Array([0xff, 0x00]), format: 'raw' }
  t.match(JSON.parse(formatEvent(raw, 'json', 'auto')), { id: null, clientId: null, topic: 'up/x', acceptedAt: null, payload: '/wA=', encoding: 'base64' })
  t.equal(formatEvent(e, 'text', 'auto'), 'gw-1-2 dev/t "héllo\\n"\n')
  t.equal(formatEvent(raw, 'text', 'auto'), '- up/x base64:/wA=\n')
  t.same(payloadText(Buffer.from('abc'), 'base64'), { payload: 'YWJj', encoding: 'base64' })
  t.same(payloadText(new Uint8Array([0xff]), 'utf8'), { payload: '\ufffd', encoding: 'utf8' }, 'utf8 forced: replacement characters')
})
