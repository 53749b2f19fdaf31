import type { ConsumedEvent } from '../consumer/event.js'

/**
 * How `outpost consume` prints an event: one line each. Pure.
 * json: one JSON object per line (docs/cli.md lists the fields).
 * text: `<id or -> <topic> <payload>` for a person.
 */
export type OutputFormat = 'json' | 'text'
export type PayloadEncoding = 'auto' | 'utf8' | 'base64'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The payload as text: UTF-8 when asked, or on auto when it is valid UTF-8; else base64. */
export function payloadText(payload: Uint8Array, mode: PayloadEncoding): { payload: string; encoding: 'utf8' | 'base64' } {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  if (mode === 'base64') return { payload: buf.toString('base64'), encoding: 'base64' }
  if (mode === 'utf8') return { payload: buf.toString('utf8'), encoding: 'utf8' }
  try {
    return { payload: utf8.decode(payload), encoding: 'utf8' }
  } catch {
    return { payload: buf.toString('base64'), encoding: 'base64' }
  }
}

export function formatEvent(event: ConsumedEvent, format: OutputFormat, mode: PayloadEncoding): string {
  const { payload, encoding } = payloadText(event.payload, mode)
  const topic = event.topic ?? event.upstreamTopic
  if (format === 'text') {
    return `${event.id ?? '-'} ${topic} ${encoding === 'utf8' ? JSON.stringify(payload) : `base64:${payload}`}\n`
  }
  return JSON.stringify({
    id: event.id ?? null,
    clientId: event.clientId ?? null,
    topic,
    upstreamTopic: event.upstreamTopic,
    acceptedAt: event.acceptedAt ?? null,
    qos: event.qos ?? null,
    retain: event.retain ?? null,
    historical: event.historical ?? null,
    meta: event.meta ?? null,
    payload,
    encoding,
    format: event.format,
  }) + '\n'
}
