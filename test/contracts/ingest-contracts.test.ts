// The ingest hook with device contracts: valid events carry metadata, invalid
// ones are dead-lettered and still acknowledged, unknown topics follow the
// policy, oversized ones are refused before any contract is consulted.
import t from 'tap'
import { createIngest, type IncomingPublish } from '../../src/broker/ingest.js'
import { createForwardPredicate } from '../../src/broker/topic-filter.js'
import { createChecker } from '../../src/contracts/checker.js'
import { loadContracts } from '../../src/contracts/loader.js'
import type { DeadLetterInput, UnknownTopicPolicy } from '../../src/contracts/types.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import type { EventInput } from '../../src/spool/types.js'
import { DEVICES } from '../helpers/contracts.js'
import { captureLog } from '../helpers/log.js'

const checker = createChecker(loadContracts(DEVICES), { gatewayId: 'gw' })
const reading = Buffer.from(JSON.stringify({ ts: 1763900000, seq: 1, temperatureC: 20, humidityPct: 40, batteryPct: 90 }))

function setup(unknownTopics: UnknownTopicPolicy, dlqFails = false) {
  const appended: EventInput[] = []
  const dead: DeadLetterInput[] = []
  const cap = captureLog()
  const ingest = createIngest({
    spool: { append: async (input) => { appended.push(input); return { seq: appended.length - 1, id: 'x', duplicate: false } } },
    forwards: createForwardPredicate({ include: ['#'], exclude: ['local/#'] }),
    maxPayloadBytes: 4096, storeQos0: true, log: cap.log,
    contracts: {
      check: checker.check, unknownTopics,
      deadLetter: async (e) => {
        if (dlqFails) throw new Error('disk full')
        dead.push(e)
      },
    },
  })
  const publish = (clientId: string, p: Partial<IncomingPublish>) => new Promise<Error | null | undefined>((resolve) => {
    ingest.authorizePublish({ id: clientId }, { topic: 't', payload: reading, qos: 1, retain: false, ...p }, resolve)
  })
  return { appended, dead, ingest, publish, cap }
}

t.test('valid: stored with contract metadata and the mapped upstream topic', async (t) => {
  const s = setup('dead-letter')
  t.equal(await s.publish('env-1', { topic: 'env/1/telemetry' }), null)
  t.strictSame(s.appended[0]!.meta, { 'device-type': 'env-sensor', 'contract-version': '1.0.0', message: 'reading' })
  t.equal(s.appended[0]!.upstreamTopic, 'fleet/gw/env-sensor/v1/1/telemetry')
  t.equal(s.dead.length, 0)
})

t.test('invalid: dead-lettered with the reasons, acknowledged, never stored for upstream', async (t) => {
  const s = setup('forward')
  const bad = Buffer.from(JSON.stringify({ ts: 1763900000, seq: 1, temperatureC: 'warm', humidityPct: 40, batteryPct: 90 }))
  t.equal(await s.publish('env-1', { topic: 'env/1/telemetry', payload: bad }), null, 'acknowledged (no error)')
  t.equal(await s.publish('env-1', { topic: 'env/1/telemetry', payload: bad, qos: 0 }), null)
  t.equal(s.appended.length, 0)
  t.equal(s.dead.length, 2)
  t.match(s.dead[0], { clientId: 'env-1', topic: 'env/1/telemetry', reason: 'schema', errors: ['/temperatureC: must be number'], deviceType: 'env-sensor', contractVersion: '1.0.0', qos: 1 })
  t.equal(s.ingest.stats.deadLettered, 2)
  t.equal(s.cap.find('broke its device contract').filter((l) => l['level'] === 40).length, 1, 'warned once per device, then debug')
})

t.test('a dead letter that cannot be written is not acknowledged', async (t) => {
  const s = setup('dead-letter', true)
  const err = await s.publish('env-1', { topic: 'env/1/telemetry', payload: Buffer.from('{') })
  t.match(err, { message: 'disk full' })
  t.equal(s.ingest.stats.writeErrors, 1)
})

t.test('unknown topics follow the policy', async (t) => {
  const dl = setup('dead-letter')
  t.equal(await dl.publish('x', { topic: 'factory/line1' }), null)
  t.match(dl.dead, [{ reason: 'unknown-topic', topic: 'factory/line1' }])
  t.equal(dl.appended.length, 0)

  const fw = setup('forward')
  t.equal(await fw.publish('x', { topic: 'factory/line1' }), null)
  t.equal(fw.appended.length, 1)
  t.equal(fw.appended[0]!.meta, undefined, 'forwarded without contract metadata')
  t.equal(fw.ingest.stats.unknownForwarded, 1)

  const rf = setup('refuse')
  const err = await rf.publish('x', { topic: 'factory/line1' })
  t.ok(isOutpostError(err, ErrorCodes.CONTRACT_UNKNOWN_TOPIC), 'refused: the device is disconnected unacknowledged')
  t.equal(rf.appended.length + rf.dead.length, 0)
})

t.test('oversized: the broker limit refuses before contracts; the profile limit dead-letters', async (t) => {
  const s = setup('dead-letter')
  const err = await s.publish('env-1', { topic: 'env/1/telemetry', payload: Buffer.alloc(5000, 32) })
  t.ok(isOutpostError(err, ErrorCodes.BROKER_PAYLOAD_TOO_LARGE))
  t.equal(await s.publish('env-1', { topic: 'env/1/telemetry', payload: Buffer.alloc(1000, 32) }), null)
  t.match(s.dead, [{ reason: 'too-large' }])
})

t.test('topics outside forward.include are not checked at all', async (t) => {
  const s = setup('refuse')
  t.equal(await s.publish('x', { topic: 'local/debug', payload: Buffer.from('anything') }), null)
  t.equal(s.appended.length + s.dead.length, 0)
})
