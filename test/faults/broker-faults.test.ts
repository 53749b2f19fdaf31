import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startDevice, type Device } from '../helpers/devices.js'
import { ackedOf } from '../helpers/e2e-stack.js'
import { FILE_TIMEOUT_MS, FULL, sleep, waitFor } from '../helpers/fault-results.js'
import { concludeScenario, startFaultStack, waitForAllAcked, waitForNewLog } from '../helpers/fault-stack.js'

/*
 * Scenario 3, cloud broker faults: the cloud Mosquitto restarted while events
 * flow, and a cloud that refuses the gateway's credentials. The refusal must
 * give a clear log line, back off (no busy loop: connection attempts are
 * counted at the fault proxy), and keep every event for when the cloud takes
 * the gateway again.
 */

t.setTimeout(FILE_TIMEOUT_MS)

const PASSWD = '/usr/bin/mosquitto_passwd'

function startDevices(url: string, count: number, n: number, prefix = 'dev'): Device[] {
  return Array.from({ length: n }, (_, i) => startDevice({ url, clientId: `${prefix}-${i + 1}`, count, intervalMs: 2 }))
}

/** CPU seconds (user + system) a process has used, from /proc; null where there is no /proc. */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

t.test('cloud broker restarted mid-stream', async (t) => {
  const startedAt = Date.now()
  const { gw, cloud, collector } = await startFaultStack(t)
  const devices = startDevices(gw.url, FULL ? 3000 : 600, 3)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))
  const restarts = FULL ? 5 : 2
  for (let i = 0; i < restarts; i++) {
    const before = collector.messages.length
    await waitFor(() => collector.messages.length > before + 100, 'forwarding before the restart', 60_000)
    await cloud.restart()
  }
  await Promise.all(devices.map((d) => d.done))
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked)
  concludeScenario(t, { scenario: 'cloud-restart', acked, messages: collector.messages, startedAt, notes: `${restarts} graceful restarts of the cloud Mosquitto` })
})

t.test('cloud refuses the credentials: clear log line, backoff, events kept', { skip: existsSync(PASSWD) ? false : `${PASSWD} not installed` }, async (t) => {
  const startedAt = Date.now()
  let passwdFile = ''
  const { gw, cloud, proxy, collector } = await startFaultStack(t, {
    upstreamYaml: 'username: gateway\npassword: not-the-password',
    prepareCloud: async (cloudDir) => {
      passwdFile = join(cloudDir, 'passwd')
      execFileSync(PASSWD, ['-c', '-b', passwdFile, 'collector', 'collector-pw'])
      execFileSync(PASSWD, ['-b', passwdFile, 'gateway', 'the-password'])
      return [`password_file ${passwdFile}`]
    },
    cloudConfig: ['allow_anonymous false'],
    collectorAuth: { username: 'collector', password: 'collector-pw' },
  })
  const devices = startDevices(gw.url, FULL ? 1000 : 300, 2)
  t.teardown(() => Promise.all(devices.map((d) => d.stop())))

  const refusal = await waitForNewLog(gw, 0, /uplink (unreachable|still down|refused|down)/, 30_000)
  const line = JSON.stringify(refusal)
  t.match(line, /password|not authori[sz]ed|credentials|user name/i, `the log line says why: ${line}`)
  t.match(line, /upstream\.username and upstream\.password/, 'and names the settings to check')
  t.ok((refusal.level as number) >= 40, 'logged at warn or above')

  // Watch the refusals for a while: attempts counted at the proxy, CPU from /proc.
  const windowStart = Date.now()
  const connectionsBefore = proxy.stats().accepted
  const cpuBefore = cpuSeconds(gw.pid)
  await Promise.all(devices.map((d) => d.done))
  await sleep(FULL ? 10_000 : 5000)
  const windowSec = (Date.now() - windowStart) / 1000
  const attempts = proxy.stats().accepted - connectionsBefore
  const cpuAfter = cpuSeconds(gw.pid)
  const cpu = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore
  // With reconnect.maxDelayMs 1000 that is about one attempt a second; a busy
  // loop makes hundreds. The bound only fails on a loop, never on a slow machine.
  t.ok(attempts <= 5 + 3 * windowSec, `backoff: ${attempts} connection attempts in ${windowSec.toFixed(1)} s`)
  t.equal(collector.messages.length, 0, 'nothing reached the cloud while refused')
  const refusedLines = gw.logs.filter((l) => (l.level as number) >= 40 && /uplink/.test(String(l.msg))).length
  t.ok(refusedLines <= 5, `the refusal is logged once, not once per attempt (${refusedLines} warn lines)`)

  // Fix the credentials on the cloud side and restart it: the backlog goes through.
  execFileSync(PASSWD, ['-b', passwdFile, 'gateway', 'not-the-password'])
  await cloud.restart()
  const acked = ackedOf(devices)
  await waitForAllAcked(collector, acked)
  concludeScenario(t, {
    scenario: 'cloud-bad-credentials', acked, messages: collector.messages, startedAt,
    notes: `${attempts} attempts in ${windowSec.toFixed(0)} s while refused` + (cpu === null ? '' : `, gateway CPU ${cpu.toFixed(2)} s`) +
      `; log: "${String(refusal.msg)}" (${String(refusal.reason ?? '')})`,
  })
})
