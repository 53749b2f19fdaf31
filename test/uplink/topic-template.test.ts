import t from 'tap'
import { isOutpostError, ErrorCodes } from '../../src/errors.js'
import { compileTopicTemplate, topicNameProblem } from '../../src/uplink/topic-template.js'

t.test('default template puts the device topic under the gateway', async (t) => {
  const topic = compileTopicTemplate('outpost/{gatewayId}/{topic}', 'gw-7')
  t.equal(topic('sensors/temp', 'dev-1'), 'outpost/gw-7/sensors/temp')
  t.equal(topic('/leading', 'dev-1'), 'outpost/gw-7//leading', 'empty levels are valid')
})

t.test('every placeholder, several times, in any order', async (t) => {
  const topic = compileTopicTemplate('{clientId}/{gatewayId}/{topic}/{clientId}', 'gw')
  t.equal(topic('a/b', 'dev'), 'dev/gw/a/b/dev')
  t.equal(compileTopicTemplate('{topic}', 'gw')('x', 'c'), 'x')
  t.equal(compileTopicTemplate('fixed/{gatewayId}', 'gw')('x', 'c'), 'fixed/gw', 'no per-event part')
})

t.test('a result that is not a valid topic name gives null', async (t) => {
  const topic = compileTopicTemplate('up/{clientId}/{topic}', 'gw')
  t.equal(topic('t', 'bad+id'), null, 'wildcard from a client id')
  t.equal(topic('t', 'bad#id'), null)
  t.equal(topic('t', 'nul\u0000'), null)
  t.equal(compileTopicTemplate('{topic}', 'gw')('', 'c'), null, 'empty')
  t.equal(topic('x'.repeat(70_000), 'c'), null, 'too long')
  t.equal(topic('\u00e9'.repeat(33_000), 'c'), null, 'too long in UTF-8 bytes, not in characters')
  t.equal(topic('\u00e9'.repeat(20_000), 'c'), 'up/c/' + '\u00e9'.repeat(20_000))
  t.equal(topic('bad\ud800', 'c'), null, 'lone surrogate cannot be UTF-8')
  t.equal(topic('emoji-\u{1f600}', 'c'), 'up/c/emoji-\u{1f600}', 'surrogate pairs are fine')
})

t.test('bad templates fail at compile time with a clear error', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['outpost/{gateway}/{topic}', 'gw', /unknown placeholder \{gateway\}/],
    ['outpost/{gatewayId/{topic}', 'gw', /unknown placeholder/],
    ['outpost/{topic', 'gw', /without a matching \}/],
    ['outpost/}{topic}', 'gw', /\} without a matching \{/],
    ['', 'gw', /not valid.*empty/],
    ['outpost/+/{topic}', 'gw', /wildcard/],
    ['outpost/{gatewayId}/{topic}', 'gw#1', /with gatewayId 'gw#1'/],
  ]
  for (const [template, gatewayId, message] of cases) {
    try {
      compileTopicTemplate(template, gatewayId)
      t.fail(`accepted ${template}`)
    } catch (err) {
      t.ok(isOutpostError(err, ErrorCodes.UPLINK_TOPIC_TEMPLATE), template)
      t.match((err as Error).message, message)
    }
  }
})

t.test('topicNameProblem', async (t) => {
  t.equal(topicNameProblem('a/b/c'), null)
  t.equal(topicNameProblem('$share-not-special-here'), null)
  t.match(topicNameProblem('a/+/c'), /wildcard/)
  t.match(topicNameProblem(''), /empty/)
})

t.test('results are remembered per device topic, and per client id when the template uses it', async (t) => {
  const byTopic = compileTopicTemplate('up/{gatewayId}/{topic}', 'gw')
  for (let i = 0; i < 3; i++) {
    t.equal(byTopic('a/b', 'dev-1'), 'up/gw/a/b')
    t.equal(byTopic('a/b', 'dev-2'), 'up/gw/a/b')
    t.equal(byTopic('a/+', 'dev-1'), null, 'an invalid result is remembered as invalid')
  }
  const byClient = compileTopicTemplate('up/{clientId}/{topic}', 'gw')
  for (let i = 0; i < 3; i++) {
    t.equal(byClient('a', 'dev-1'), 'up/dev-1/a')
    t.equal(byClient('a', 'dev-2'), 'up/dev-2/a')
    t.equal(byClient('a', 'x#'), null)
  }
  // Past the cache's size the results stay right.
  for (let i = 0; i < 25_000; i++) {
    if (byClient(`t/${i}`, `d${i % 7}`) !== `up/d${i % 7}/t/${i}`) t.fail(`wrong topic for t/${i}`)
  }
  t.equal(byClient('a', 'dev-1'), 'up/dev-1/a')
  // Long topics are built each time (not kept), with the same result.
  const long = `l/${'x'.repeat(400)}`
  for (let i = 0; i < 3; i++) {
    t.equal(byTopic(long, 'dev-1'), `up/gw/${long}`)
    t.equal(byClient('a', `c${'y'.repeat(300)}`), `up/c${'y'.repeat(300)}/a`)
    t.equal(byTopic(`${long}/#`, 'dev-1'), null)
  }
})
