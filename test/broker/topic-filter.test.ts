import t from 'tap'
import { createForwardPredicate, topicMatches } from '../../src/broker/topic-filter.js'

t.test('topic filter matching follows MQTT 4.7', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['#', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/+/c', 'a/x/c', true],
    ['+/+', '/x', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
  ]
  for (const [filter, topic, want] of cases) t.equal(topicMatches(filter, topic), want, `${filter} vs ${topic}`)
})

t.test('forward predicate: include, exclude, and $SYS never', async (t) => {
  const f = createForwardPredicate({ include: ['sensors/#', '$SYS/#'], exclude: ['sensors/debug/#'] })
  t.ok(f('sensors/t1'))
  t.notOk(f('sensors/debug/x'))
  t.notOk(f('other/t1'))
  t.notOk(f('$SYS/anything'), '$SYS is excluded even when included')
  t.ok(f('sensors/t1'), 'cached answer is the same')
})
