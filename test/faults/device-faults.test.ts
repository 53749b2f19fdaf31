import mqtt from 'mqtt'
import type { Packet } from 'mqtt-packet'
import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { ackedOf } from '../helpers/e2e-stack.js'
import { faultSeed, FILE_TIMEOUT_MS, FULL, seededRandom, sleep, waitFor } from '../helpers/fault-results.js'
import { concludeScenario, startFaultStack, waitForAllAcked } from '../helpers/fault-stack.js'
import { rawDevice, type RawDevice } from '../helpers/raw-device.js'

/*
 * Scenario 6, device faults: a device that hangs up in the middle of QoS 2
 * exchanges (after PUBLISH, after PUBREC, after PUBREL; seeded, replay with
 * OUTPOST_FAULTS_SEED), and a device that floods while another one keeps
 * publishing at a normal pace.
 */

t.setTimeout(FILE_TIMEOUT_MS)

t.test('QoS 2: the device hangs up mid-exchange and finishes it after reconnecting', async (t) => {
  const seed = faultSeed()
  const random = seededRandom(seed)
  t.comment(`seed ${seed} (replay with OUTPOST_FAULTS_SEED=${seed})`)
  const startedAt = Date.now()
  const { gw, collector } = await startFaultStack(t)
  const clientId = 'q2-dev'
  const events = FULL ? 300 : 60
  const acked = new Set<number>()
  const phases = [0, 0, 0, 0]
  let dev: RawDevice = await rawDevice(gw.port, clientId)
  t.teardown(() => dev.drop())
  const reconnect = async (): Promise<void> => {
    dev.drop()
    dev = await rawDevice(gw.port, clientId)
  }

  for (let n = 0; n < events; n++) {
    const messageId = n + 1
    const publish: Packet = {
      cmd: 'publish', topic: `sensors/${clientId}`, payload: JSON.stringify({ d: clientId, n }),
      qos: 2, messageId, retain: false, dup: false,
    }
    // 0: a clean exchange; 1: hang up after PUBLISH; 2: after PUBREC; 3: after PUBREL.
    const phase = Math.floor(random() * 4)
    phases[phase]!++
    await dev.send(publish)
    if (phase === 1) {
      await reconnect()
      // [MQTT-4.3.3-1] the sender re-sends the PUBLISH, with DUP set, until it has a PUBREC.
      await dev.send({ ...publish, dup: true })
    }
    await dev.next('pubrec', messageId)
    acked.add(n)
    if (phase === 2) await reconnect()
    await dev.send({ cmd: 'pubrel', messageId })
    if (phase === 3) {
      await reconnect()
      await dev.send({ cmd: 'pubrel', messageId })
    }
    await dev.next('pubcomp', messageId)
  }
  const ackedMap = new Map([[clientId, acked]])
  await waitForAllAcked(collector, ackedMap)
  await sleep(500)
  concludeScenario(t, {
    scenario: 'device-qos2-hangup', acked: ackedMap, messages: collector.messages, startedAt,
    notes: `${events} QoS 2 events: ${phases[0]} clean, ${phases[1]} cut after PUBLISH, ${phases[2]} after PUBREC, ${phases[3]} after PUBREL; seed ${seed}`,
  })
})

const FLOOD = FULL ? 200_000 : 30_000

t.test('a flooding device does not starve a normal one', async (t) => {
  const startedAt = Date.now()
  const { gw, collector } = await startFaultStack(t)
  const flood = startDevice({ url: gw.url, clientId: 'flood', count: FLOOD, inFlight: 1000 })
  t.teardown(() => flood.stop())
  await waitFor(() => flood.acked.size >= 1000, 'the flood under way', 60_000)

  // A normal device: one QoS 1 event every 20 ms, each round trip timed.
  const probe = await mqtt.connectAsync(gw.url, { protocolVersion: 4, clientId: 'probe', clean: false })
  t.teardown(() => probe.endAsync(true))
  const probeAcked = new Set<number>()
  const rtts: number[] = []
  const probes = FULL ? 500 : 100
  let duringFlood = 0
  for (let n = 0; n < probes; n++) {
    const sent = performance.now()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      probe.publishAsync('sensors/probe', JSON.stringify({ d: 'probe', n }), { qos: 1 }),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`probe event ${n} not acknowledged within 60 s`)), 60_000) }),
    ]).finally(() => clearTimeout(timer))
    rtts.push(performance.now() - sent)
    probeAcked.add(n)
    if (flood.acked.size < FLOOD) duringFlood++
    await sleep(20)
  }
  t.equal(probeAcked.size, probes, 'every probe event was acknowledged')
  t.ok(duringFlood > 0, `probe events acknowledged while the flood ran: ${duringFlood} of ${probes}`)
  await flood.done
  const acked = ackedOf([flood, { clientId: 'probe', acked: probeAcked }])
  await waitForAllAcked(collector, acked, 180_000)
  rtts.sort((a, b) => a - b)
  const pct = (p: number): string => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!.toFixed(0)
  concludeScenario(t, {
    scenario: 'device-flood', acked, messages: collector.messages, startedAt,
    notes: `flood of ${flood.acked.size} QoS 1 events with 1000 in flight; normal device round trip median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, ` +
      `${duringFlood}/${probes} acknowledged during the flood`,
  })
})
