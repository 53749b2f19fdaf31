import t from 'tap'
import { ConfigError, parseConfig, topicFilterProblem } from '../../src/config/index.js'

function issuesOf(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, { source: 'f.yaml' })
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(({ path, message }) => ({ path, message }))
    throw err
  }
  return []
}

t.test('valid topic filters', async (t) => {
  for (const filter of ['#', '+', 'a', 'a/b', 'a/+/c', 'a/#', '+/+/#', '/', 'a//b', '/#', 'sensors/ü/°C', '$SYS/#']) {
    t.equal(topicFilterProblem(filter), undefined, filter)
  }
})

t.test('invalid topic filters', async (t) => {
  const cases: [string, string][] = [
    ['', 'a topic filter must not be empty'],
    ['a/#/b', '"#" must be a whole level and the last one'],
    ['a#', '"#" must be a whole level and the last one'],
    ['#/a', '"#" must be a whole level and the last one'],
    ['a/b#', '"#" must be a whole level and the last one'],
    ['a+/b', '"+" must be a whole level'],
    ['a/+b', '"+" must be a whole level'],
    ['a/++', '"+" must be a whole level'],
    ['a\u0000b', 'a topic filter must not contain U+0000'],
    ['x'.repeat(65536), 'a topic filter must not exceed 65535 bytes'],
  ]
  for (const [filter, problem] of cases) t.equal(topicFilterProblem(filter), problem, JSON.stringify(filter.slice(0, 10)))
})

t.test('filters in forward.include and forward.exclude are checked with their index', async (t) => {
  t.strictSame(issuesOf('forward:\n  include: [a/b, "a/#/b"]\n  exclude: ["", ok/+, "c+"]\n'), [
    { path: 'forward.include[1]', message: '"#" must be a whole level and the last one, got "a/#/b"' },
    { path: 'forward.exclude[0]', message: 'a topic filter must not be empty, got ""' },
    { path: 'forward.exclude[2]', message: '"+" must be a whole level, got "c+"' },
  ])
  t.strictSame(issuesOf('forward:\n  include: [a, 7]\n'), [
    { path: 'forward.include[1]', message: 'expected an MQTT topic filter, got 7' },
  ])
})

t.test('$SYS is never forwarded, so including it is a mistake; excluding it is harmless', async (t) => {
  t.strictSame(issuesOf('forward:\n  include: [$SYS/broker/#]\n'), [
    { path: 'forward.include[0]', message: '$SYS topics are never forwarded, so this filter can never match, got "$SYS/broker/#"' },
  ])
  t.strictSame(issuesOf('forward:\n  exclude: [$SYS/#]\n'), [])
})

t.test('the upstream topic template', async (t) => {
  const template = (value: string) => issuesOf(`upstream:\n  url: mqtt://c\n  topicTemplate: '${value}'\n`)
  t.strictSame(template('{clientId}/{topic}'), [])
  t.strictSame(template('fleet/{gatewayId}/{clientId}/{topic}'), [])
  t.strictSame(template('a/{topik}'), [{
    path: 'upstream.topicTemplate',
    message: 'unknown placeholder {topik} (did you mean "{topic}"?); known: {gatewayId} {topic} {clientId}, got "a/{topik}"',
  }])
  t.match(template('a/{topic'), [{ message: /^unbalanced "\{" or "\}"/ }])
  t.match(template('a/#/{topic}'), [{ message: /^a topic name must not contain "\+", "#"/ }])
  t.match(template(''), [{ message: 'expected non-empty string, got ""' }])
})
