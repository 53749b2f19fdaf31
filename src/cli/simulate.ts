/**
 * `outpost simulate <device-type> --gateway URL --count N --rate R
 * [--invalid-ratio X] [--devices K]`: K simulated devices publish N QoS 1
 * events in total at about R per second, generated from the contract; a
 * fraction X of them is broken on purpose. For demos, tests and benchmarks.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { seededRng } from '../contracts/payload-gen.js'
import { pickContract, planEvent } from '../contracts/simulation.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import { CommandExit } from './command-config.js'
import { contractsFor } from './contracts-arg.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

export interface SimulateArgs {
  deviceType: string | undefined
  gateway: string | undefined
  count: string | undefined
  rate: string | undefined
  invalidRatio: string | undefined
  devices: string | undefined
  seed: string | undefined
  contractsDir: string | undefined
  configFile: string | undefined
  json: boolean
  io: CliIo
}

function num(name: string, raw: string | undefined, fallback: number | undefined, min: number, max: number, integer: boolean): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new OutpostError(ErrorCodes.CLI_USAGE, `simulate needs --${name}`)
    return fallback
  }
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new OutpostError(ErrorCodes.CLI_USAGE, `--${name} must be ${integer ? 'an integer' : 'a number'} ${min}..${max}, got "${raw}"`)
  }
  return v
}

export async function simulateCommand(a: SimulateArgs): Promise<number> {
  const { io } = a
  if (a.deviceType === undefined) throw new OutpostError(ErrorCodes.CLI_USAGE, 'simulate needs a device type, e.g. "outpost simulate env-sensor --gateway mqtt://127.0.0.1:1883 --count 100 --rate 10"')
  if (a.gateway === undefined || !/^mqtts?:\/\/./.test(a.gateway)) throw new OutpostError(ErrorCodes.CLI_USAGE, 'simulate needs --gateway mqtt://host:port')
  const count = num('count', a.count, undefined, 1, 1e9, true)
  const rate = num('rate', a.rate, undefined, 0.001, 1e6, false)
  const invalidRatio = num('invalid-ratio', a.invalidRatio, 0, 0, 1, false)
  const deviceCount = num('devices', a.devices, 1, 1, 10_000, true)
  const seed = num('seed', a.seed, Date.now() % 2 ** 31, 0, 2 ** 31, true)
  let contract
  try {
    contract = pickContract(contractsFor(a.contractsDir, a.configFile, io, false).contracts, a.deviceType)
  } catch (err) {
    if (err instanceof CommandExit) return err.exitCode
    if (err instanceof OutpostError && err.code === ErrorCodes.CONTRACT_UNKNOWN_DEVICE_TYPE) {
      io.stderr.write(`outpost: ${err.message}\n`)
      return ExitCodes.USAGE
    }
    throw err
  }
  const rng = seededRng(seed)
  const clients: MqttClient[] = []
  for (let d = 0; d < deviceCount; d++) {
    const plan = planEvent(contract, d, rng, true)
    const c = mqtt.connect(a.gateway, { protocolVersion: 4, clientId: plan.clientId, clean: true, reconnectPeriod: 500, connectTimeout: 5000 })
    c.on('error', () => { /* reconnects on its own */ })
    clients.push(c)
  }
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.connected ? resolve() : c.once('connect', () => resolve()))))

  const started = Date.now()
  let sent = 0
  let acked = 0
  let failed = 0
  let invalidSent = 0
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * rate) + 1)
      while (sent < due && sent - acked - failed < 1000) {
        const device = sent % deviceCount
        const valid = rng() >= invalidRatio
        const ev = planEvent(contract, device, rng, valid)
        if (!valid) invalidSent++
        sent++
        clients[device]!.publish(ev.topic, Buffer.from(ev.payload), { qos: 1 }, (err) => {
          if (err) failed++
          else acked++
          if (acked + failed === count) resolve()
        })
      }
      if (sent < count) setTimeout(tick, Math.max(1, Math.min(50, 1000 / rate)))
    }
    tick()
  })
  const seconds = (Date.now() - started) / 1000
  await Promise.all(clients.map((c) => c.endAsync()))
  const summary = { deviceType: contract.deviceType, contract: contract.folder, devices: deviceCount, sent, acked, failed, invalidSent, seconds, perSecond: Math.round(acked / seconds), seed }
  io.stdout.write(a.json ? JSON.stringify(summary) + '\n'
    : `${contract.folder}: ${deviceCount} device(s) published ${sent} events (${invalidSent} broken on purpose), ${acked} acknowledged, ${failed} failed, in ${seconds.toFixed(1)} s (${summary.perSecond}/s); seed ${seed}\n`)
  return failed === 0 ? ExitCodes.OK : ExitCodes.FAILURE
}
