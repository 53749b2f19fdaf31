import t from 'tap'
import { createIngest, type IncomingPublish } from '../../src/broker/ingest.js'
import { createForwardPredicate } from '../../src/broker/topic-filter.js'
import type { AppendResult, DedupHint, EventInput, SpoolWriter } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

interface Call { input: EventInput; hint: DedupHint | undefined; settle: (ok: boolean) => void }

function fakeSpool(): SpoolWriter & { calls: Call[] } {
  const calls: Call[] = []
  return {
    calls,
    append(input, hint) {
      return new Promise<AppendResult>((resolve, reject) => {
        calls.push({ input, hint, settle: (ok) => ok ? resolve({ seq: calls.length, id: 'x', duplicate: false }) : reject(new Error('disk full')) })
      })
    },
  }
}

function setup(storeQos0 = true) {
  const spool = fakeSpool()
  const cap = captureLog()
  const ingest = createIngest({
    spool, forwards: createForwardPredicate({ include: ['#'], exclude: ['local/#'] }), maxPayloadBytes: 10, storeQos0, log: cap.log,
  })
  const call = (client: { id: string } | null, p: Partial<IncomingPublish>) => {
    const result: { done: boolean; err: Error | null | undefined } = { done: false, err: undefined }
    ingest.authorizePublish(client, { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, ...p }, (err) => {
      result.done = true
      result.err = err
    })
    return result
  }
  return { spool, ingest, call, cap }
}

const tick = () => new Promise((r) => setImmediate(r))

t.test('QoS 1 is acknowledged only after the append resolves', async (t) => {
  const { spool, call } = setup()
  const r = call({ id: 'dev' }, { messageId: 5, dup: false })
  await tick()
  t.equal(r.done, false, 'no callback while the write is pending')
  t.same(spool.calls[0]!.hint, { messageId: 5, retransmit: false })
  t.equal(spool.calls[0]!.input.clientId, 'dev')
  spool.calls[0]!.settle(true)
  await tick()
  t.equal(r.done, true)
  t.equal(r.err, null)
})

t.test('a failed write is not acknowledged', async (t) => {
  const { spool, call, ingest, cap } = setup()
  const r = call({ id: 'dev' }, { qos: 2, messageId: 9, dup: true })
  t.same(spool.calls[0]!.hint, { messageId: 9, retransmit: true })
  spool.calls[0]!.settle(false)
  await tick()
  t.ok(r.err instanceof Error, 'callback carries an error, so aedes sends no PUBACK/PUBREC')
  t.equal(ingest.stats.writeErrors, 1)
  t.equal(cap.find('could not store event').length, 1)
})

t.test('QoS 0 is delivered at once and stored when configured', async (t) => {
  const { spool, call } = setup(true)
  const r = call({ id: 'dev' }, { qos: 0 })
  t.equal(r.done, true)
  t.equal(spool.calls.length, 1)
  const off = setup(false)
  off.call({ id: 'dev' }, { qos: 0 })
  t.equal(off.spool.calls.length, 0)
})

t.test('topics not forwarded, $SYS and oversized payloads', async (t) => {
  const { spool, call, ingest } = setup()
  t.equal(call({ id: 'd' }, { topic: 'local/x' }).err, null, 'not forwarded: delivered locally only')
  t.match(call({ id: 'd' }, { topic: '$SYS/x' }).err, { code: 'OUTPOST_BROKER_SYS_TOPIC' })
  t.match(call({ id: 'd' }, { payload: Buffer.alloc(11) }).err, { code: 'OUTPOST_BROKER_PAYLOAD_TOO_LARGE' })
  t.equal(spool.calls.length, 0)
  t.equal(ingest.stats.notForwarded, 1)
  t.equal(ingest.stats.refused, 2)
})

t.test('will of a client from a previous run: no client object, id from the packet', async (t) => {
  const { spool, call } = setup()
  call(null, { clientId: 'gone', payload: 'offline', messageId: undefined })
  t.equal(spool.calls[0]!.input.clientId, 'gone')
  t.same(Buffer.from(spool.calls[0]!.input.payload).toString(), 'offline')
  t.equal(spool.calls[0]!.hint, undefined)
})
