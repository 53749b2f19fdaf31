/** Payload bytes to a value, by content type. */
import { decode } from 'cbor-x'
import type { ContentType } from './types.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Decoded value, or an Error saying why the bytes are not of that type. */
export function decodePayload(contentType: ContentType, payload: Uint8Array): unknown {
  try {
    if (contentType === 'application/json') return JSON.parse(utf8.decode(payload))
    return decode(payload)
  } catch (err) {
    return new Error(`payload is not ${contentType === 'application/json' ? 'JSON' : 'CBOR'}: ${(err as Error).message}`)
  }
}
