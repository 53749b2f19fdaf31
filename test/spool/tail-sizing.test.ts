import t from 'tap'
import { READER_IDLE_MS, TAIL_IDLE, TAIL_READING, tailLimits } from '../../src/spool/tail-sizing.js'

t.test('larger while the uplink reads, back to the small tail once nobody has read for a while', async (t) => {
  t.equal(tailLimits(0), TAIL_READING)
  t.equal(tailLimits(READER_IDLE_MS), TAIL_READING)
  t.equal(tailLimits(READER_IDLE_MS + 1), TAIL_IDLE)
  t.equal(tailLimits(Number.POSITIVE_INFINITY), TAIL_IDLE, 'never read')
  t.ok(TAIL_READING.records > TAIL_IDLE.records && TAIL_READING.bytes > TAIL_IDLE.bytes)
})
