/**
 * The `examples/` folder of a contract: `valid-*.json` and `invalid-*.json`,
 * each `{ clientId?, topic, payload | raw, expectMeta? }`. `payload` is
 * written as JSON and encoded with the channel's content type (CBOR for the
 * energy meter); `raw` is sent as its UTF-8 bytes, for payloads that are
 * deliberately not of the content type.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encode } from 'cbor-x'
import { matchTopic } from './topic-pattern.js'
import type { Contract } from './types.js'

export interface Example {
  file: string
  expectValid: boolean
  clientId: string
  topic: string
  bytes: Uint8Array
  expectMeta?: Record<string, string>
}

/** A client id the profile accepts: its first pattern with each "*" replaced. */
export function sampleClientId(contract: Contract, fill = 'example'): string {
  return contract.profile.clients[0]!.split('*').join(fill)
}

export function encodeFor(contract: Contract, topic: string, value: unknown): Uint8Array {
  const levels = topic.split('/')
  const channel = contract.channels.find((c) => matchTopic(c.pattern, levels) !== undefined)
  const type = channel?.messages[0]?.contentType ?? 'application/json'
  return type === 'application/cbor' ? Uint8Array.prototype.slice.call(encode(value)) : Buffer.from(JSON.stringify(value))
}

export function readExamples(contract: Contract): Example[] {
  const dir = join(contract.dir, 'examples')
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
  } catch {
    return []
  }
  return names.map((name) => {
    const file = join(dir, name)
    if (!/^(valid|invalid)-/.test(name)) throw new Error(`${file}: an example's name starts with "valid-" or "invalid-"`)
    const ex = JSON.parse(readFileSync(file, 'utf8')) as { clientId?: string; topic: string; payload?: unknown; raw?: string; expectMeta?: Record<string, string> }
    if (typeof ex.topic !== 'string') throw new Error(`${file}: "topic" is missing`)
    const bytes = ex.raw !== undefined ? Buffer.from(ex.raw) : encodeFor(contract, ex.topic, ex.payload)
    return {
      file, expectValid: name.startsWith('valid-'), clientId: ex.clientId ?? sampleClientId(contract), topic: ex.topic, bytes,
      ...(ex.expectMeta ? { expectMeta: ex.expectMeta } : {}),
    }
  })
}
