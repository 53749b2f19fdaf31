import t from 'tap'
import { startDevice } from '../helpers/devices.js'
import { ackedOf } from '../helpers/e2e-stack.js'
import { faultSeed, FILE_TIMEOUT_MS, FULL, seededRandom, sleep } from '../helpers/fault-results.js'
import { concludeScenario, startFaultStack, waitForAllAcked } from '../helpers/fault-stack.js'

/*
 * Scenario 1, crash loop: several devices publish without pause while the
 * gateway is killed with SIGKILL at random moments and started again, and the
 * uplink (through the fault proxy) goes down and up at random too. Short
 * variant: 5 kills; full (OUTPOST_FAULTS=full): 25 kills.
 * Replay a run with OUTPOST_FAULTS_SEED=<the seed printed below>.
 */

t.setTimeout(FILE_TIMEOUT_MS)

const KILLS = FULL ? 25 : 5
const DEVICES = 4

t.test(`crash loop: ${KILLS} x kill -9 under load, uplink flapping`, async (t) => {
  const seed = faultSeed()
  const random = seededRandom(seed)
  t.comment(`seed ${seed} (replay with OUTPOST_FAULTS_SEED=${seed})`)
  const startedAt = Date.now()
  const { gw, proxy, collector } = await startFaultStack(t)
  const devices = Array.from({ length: DEVICES }, (_, i) =>
    startDevice({ url: gw.url, clientId: `dev-${i + 1}`, count: 1e9, intervalMs: 2 }))
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  const ackedCount = (): number => devices.reduce((s, d) => s + d.acked.size, 0)

  let outages = 0
  for (let kill = 1; kill <= KILLS; kill++) {
    // A random moment: 150-1350 ms of running, wherever the gateway is in its work.
    await sleep(150 + Math.floor(random() * 1200))
    if (random() < 0.4) {
      // Flip the uplink: down when up, up when down.
      if (proxy.mode === 'down') proxy.up()
      else { proxy.down(); outages++ }
    }
    await gw.kill()
    t.comment(`kill -9 #${kill} after ${ackedCount()} acknowledged events (uplink ${proxy.mode})`)
    await sleep(Math.floor(random() * 300))
    await gw.start()
  }
  proxy.up()
  // Let the devices run on a little with the last gateway, then stop them.
  await sleep(500)
  await Promise.all(devices.map((d) => d.stop()))
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked, FULL ? 300_000 : 120_000)
  // Settle: re-sends still on their way are counted too.
  await sleep(500)
  t.equal(gw.logs.filter((l) => l.msg === 'outpost started').length, KILLS + 1, 'the gateway came back after every kill')
  concludeScenario(t, {
    scenario: 'crash-loop', acked, messages: collector.messages, startedAt,
    notes: `${KILLS} kill -9, ${outages} uplink outages, ${DEVICES} devices, seed ${seed}`,
  })
})
