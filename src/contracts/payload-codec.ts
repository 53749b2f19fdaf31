/** Payload bytes to a value, by content type. */
import { Buffer, isUtf8 } from 'node:buffer'
import { decode } from 'cbor-x'
import type { ContentType } from './types.js'

/** Decoded value, or an Error saying why the bytes are not of that type. */
export function decodePayload(contentType: ContentType, payload: Uint8Array): unknown {
  try {
    if (contentType === 'application/json') {
      // isUtf8 + toString is cheaper than a fatal TextDecoder for small payloads.
      if (!isUtf8(payload)) return new Error('payload is not JSON: not valid UTF-8')
      const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
      return JSON.parse(buf.toString('utf8'))
    }
    return decode(payload)
  } catch (err) {
    return new Error(`payload is not ${contentType === 'application/json' ? 'JSON' : 'CBOR'}: ${(err as Error).message}`)
  }
}
