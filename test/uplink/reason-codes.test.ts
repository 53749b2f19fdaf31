import t from 'tap'
import { ErrorWithReasonCode } from 'mqtt'
import { classifyPubackCode, describePubackCode, pubackCodeOf } from '../../src/uplink/reason-codes.js'

t.test('transient: unspecified, implementation specific, quota exceeded', async (t) => {
  for (const code of [0x80, 0x83, 0x97]) t.equal(classifyPubackCode(code), 'transient', code.toString(16))
})

t.test('permanent: everything else', async (t) => {
  for (const code of [0x87, 0x90, 0x91, 0x99, 0x95, 0xa0]) t.equal(classifyPubackCode(code), 'permanent', code.toString(16))
})

t.test('reads the code MQTT.js puts on a refused publish', async (t) => {
  t.equal(pubackCodeOf(new ErrorWithReasonCode('Publish error: Not authorized', 0x87)), 0x87)
  t.equal(pubackCodeOf(new Error('Connection closed')), undefined)
  t.equal(pubackCodeOf(Object.assign(new Error('socket'), { code: 'ECONNRESET' })), undefined)
  t.equal(pubackCodeOf(Object.assign(new Error('x'), { code: 0x10 })), undefined, 'below 0x80 is not a refusal')
  t.equal(pubackCodeOf(null), undefined)
})

t.test('describes codes for logs and the rejected store', async (t) => {
  t.equal(describePubackCode(0x87), 'PUBACK 0x87 Not authorized')
  t.equal(describePubackCode(0x97), 'PUBACK 0x97 Quota exceeded')
  t.equal(describePubackCode(0xa0), 'PUBACK 0xa0 refused')
})
