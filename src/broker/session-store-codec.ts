import { decode, encode } from 'cbor-x'

/**
 * Key layout of the session store (utf8 strings; `<c>` is the client id with
 * `%` and `/` escaped, so it never contains the separator):
 *
 *   m/format               format version of this layout
 *   r/<topic>              retained message
 *   s/<c>/<topic>          subscription of a persistent session
 *   o/<c>/<seq: 16 hex>    queued outgoing packet; seq is a store-wide counter,
 *                          so byte order is queue order, across restarts
 *   i/<c>/<messageId: 5>   incoming QoS 2 packet awaiting PUBREL
 *   w/<c>                  will message (with the brokerId that stored it)
 *
 * Values are CBOR maps of the packet fields below (or of the subscription).
 */
export const FORMAT_KEY = 'm/format'
export const FORMAT_VERSION = 1

const SEQ_WIDTH = 16
const MID_WIDTH = 5

function esc(s: string): string {
  return s.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'))
}

function unesc(s: string): string {
  return s.replace(/%2F|%25/g, (m) => (m === '%2F' ? '/' : '%'))
}

export const keys = {
  retained: (topic: string): string => `r/${topic}`,
  sub: (clientId: string, topic: string): string => `s/${esc(clientId)}/${topic}`,
  outgoing: (clientId: string, seq: number): string => `o/${esc(clientId)}/${seq.toString(16).padStart(SEQ_WIDTH, '0')}`,
  incoming: (clientId: string, messageId: number): string => `i/${esc(clientId)}/${String(messageId).padStart(MID_WIDTH, '0')}`,
  will: (clientId: string): string => `w/${esc(clientId)}`,
}

export type ParsedKey =
  | { kind: 'meta' }
  | { kind: 'retained'; topic: string }
  | { kind: 'sub'; clientId: string; topic: string }
  | { kind: 'outgoing'; clientId: string; seq: number }
  | { kind: 'incoming'; clientId: string; messageId: number }
  | { kind: 'will'; clientId: string }

/** Split `<c>/<rest>`; null when there is no separator. */
function splitClient(s: string): [string, string] | null {
  const i = s.indexOf('/')
  return i < 0 ? null : [unesc(s.slice(0, i)), s.slice(i + 1)]
}

/** Returns null for a key this layout does not know. */
export function parseKey(key: string): ParsedKey | null {
  const body = key.slice(2)
  if (key[1] !== '/') return null
  switch (key[0]) {
    case 'm': return { kind: 'meta' }
    case 'r': return { kind: 'retained', topic: body }
    case 'w': return { kind: 'will', clientId: unesc(body) }
    case 's': {
      const p = splitClient(body)
      return p ? { kind: 'sub', clientId: p[0], topic: p[1] } : null
    }
    case 'o': {
      const p = splitClient(body)
      if (!p || !new RegExp(`^[0-9a-f]{${SEQ_WIDTH}}$`).test(p[1])) return null
      const seq = Number.parseInt(p[1], 16)
      return Number.isSafeInteger(seq) ? { kind: 'outgoing', clientId: p[0], seq } : null
    }
    case 'i': {
      const p = splitClient(body)
      if (!p || !new RegExp(`^[0-9]{${MID_WIDTH}}$`).test(p[1])) return null
      return { kind: 'incoming', clientId: p[0], messageId: Number(p[1]) }
    }
    default: return null
  }
}

/** The packet fields the store keeps (aedes-packet's fields; functions and the rest are dropped). */
export interface StoredPacket {
  cmd?: string
  brokerId?: string
  brokerCounter?: number
  topic?: string
  payload?: Buffer | string
  qos?: number
  retain?: boolean
  dup?: boolean
  messageId?: number
  clientId?: string
  nl?: boolean
  properties?: Record<string, unknown>
  messageExpiry?: number
}

const PACKET_FIELDS = ['cmd', 'brokerId', 'brokerCounter', 'topic', 'payload', 'qos', 'retain', 'dup',
  'messageId', 'clientId', 'nl', 'properties', 'messageExpiry'] as const

/** A plain copy of the known fields that are set. */
export function pickPacket(p: object): StoredPacket {
  const src = p as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const f of PACKET_FIELDS) {
    if (src[f] !== undefined) out[f] = src[f]
  }
  return out as StoredPacket
}

export interface StoredSubscription {
  topic: string
  qos: number
  rh?: number
  rap?: boolean
  nl?: boolean
  subscriptionIdentifier?: number
}

export function pickSubscription(s: object): StoredSubscription {
  const src = s as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const f of ['topic', 'qos', 'rh', 'rap', 'nl', 'subscriptionIdentifier']) {
    if (src[f] !== undefined) out[f] = src[f]
  }
  return out as unknown as StoredSubscription
}

export function encodeValue(v: unknown): Uint8Array {
  // cbor-x returns a view into a shared buffer: copy before keeping it.
  return Uint8Array.prototype.slice.call(encode(v))
}

export class ValueError extends Error {}

function asObject(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new ValueError(`not valid CBOR: ${(err as Error).message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ValueError('not a CBOR map')
  }
  return v as Record<string, unknown>
}

function isQos(q: unknown): boolean {
  return q === 0 || q === 1 || q === 2
}

/** Decode a stored packet; throws ValueError when the bytes are not one. */
export function decodePacket(bytes: Uint8Array): StoredPacket {
  const v = asObject(bytes)
  const { cmd, payload, messageId } = v
  if (cmd !== undefined && typeof cmd !== 'string') throw new ValueError('cmd is not a string')
  if (messageId !== undefined && typeof messageId !== 'number') throw new ValueError('messageId is not a number')
  if (cmd === undefined || cmd === 'publish') {
    if (typeof v.topic !== 'string') throw new ValueError('topic is not a string')
    if (!isQos(v.qos ?? 0)) throw new ValueError('qos is not 0, 1 or 2')
    if (payload instanceof Uint8Array && !Buffer.isBuffer(payload)) {
      v.payload = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    } else if (payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
      throw new ValueError('payload is not bytes')
    }
  } else if (typeof messageId !== 'number') {
    throw new ValueError(`${cmd} without messageId`)
  }
  return pickPacket(v)
}

export function decodeSubscription(bytes: Uint8Array): StoredSubscription {
  const v = asObject(bytes)
  if (typeof v.topic !== 'string') throw new ValueError('topic is not a string')
  if (!isQos(v.qos)) throw new ValueError('qos is not 0, 1 or 2')
  return pickSubscription(v)
}
