/**
 * What `outpost simulate` publishes: for simulated device i of a contract,
 * a client id its profile accepts, a topic on a channel the device publishes
 * on, and a payload in the message's content type that satisfies the schema
 * (or is broken on purpose). Pure; the MQTT side is src/cli/simulate.ts.
 */
import { encode } from 'cbor-x'
import { ErrorCodes, OutpostError } from '../errors.js'
import { generateInvalid, generateValid, type Rng } from './payload-gen.js'
import type { Contract } from './types.js'

export interface PlannedEvent {
  clientId: string
  topic: string
  payload: Uint8Array
  /** True when the payload was generated to satisfy the contract. */
  valid: boolean
}

/** The newest contract for `name`: a device type (`door-lock`) or a folder (`door-lock-v1`). */
export function pickContract(contracts: readonly Contract[], name: string): Contract {
  const exact = contracts.find((c) => c.folder === name)
  if (exact) return exact
  const ofType = contracts.filter((c) => c.deviceType === name).sort((a, b) => b.folder.localeCompare(a.folder, 'en', { numeric: true }))
  if (ofType[0]) return ofType[0]
  throw new OutpostError(ErrorCodes.CONTRACT_UNKNOWN_DEVICE_TYPE,
    `no device contract "${name}"; known: ${[...new Set(contracts.flatMap((c) => [c.deviceType, c.folder]))].sort().join(', ')}`)
}

export function simulatedClientId(contract: Contract, device: number): string {
  const pattern = contract.profile.clients.find((p) => p.includes('*')) ?? contract.profile.clients[0]!
  return pattern.split('*').join(`sim${device}`)
}

export function planEvent(contract: Contract, device: number, rng: Rng, valid: boolean): PlannedEvent {
  const channels = contract.channels.filter((c) => c.devicePublishes)
  // The first channel (the main telemetry or event stream) most of the time.
  const channel = rng() < 0.8 ? channels[0]! : channels[Math.floor(rng() * channels.length)]!
  const message = channel.messages[Math.floor(rng() * channel.messages.length)]!
  const clientId = simulatedClientId(contract, device)
  const topic = channel.pattern.levels.map((l) => {
    if (typeof l === 'string') return l
    const allowed = channel.allowed?.get(l.param)
    return allowed ? [...allowed][0]! : `sim${device}`
  }).join('/')
  const value = valid ? generateValid(message, rng) : generateInvalid(message, rng)
  const payload = message.contentType === 'application/cbor' ? Uint8Array.prototype.slice.call(encode(value)) : Buffer.from(JSON.stringify(value))
  return { clientId, topic, payload, valid }
}
