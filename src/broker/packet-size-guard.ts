import type { Socket } from 'node:net'

/**
 * aedes' packet parser has no size limit: it buffers a packet of any declared
 * length (MQTT allows 256 MB) before our hooks see it. On a board with 1 GB of
 * RAM that is a way to take the gateway down. This scanner reads only the
 * fixed headers of the byte stream [MQTT 2.2] and reports the first packet
 * whose Remaining Length is over the limit, or a malformed length, so the
 * connection can be closed before the packet is buffered.
 */
export type ScanVerdict = { kind: 'ok' } | { kind: 'oversized'; length: number } | { kind: 'malformed' }

export interface PacketScanner {
  feed(chunk: Uint8Array): ScanVerdict
}

const OK: ScanVerdict = { kind: 'ok' }

export function createPacketScanner(maxRemainingLength: number): PacketScanner {
  // 'type': expecting the first header byte; 'length': reading the variable
  // length integer; 'body': skipping `skip` bytes of the packet.
  let state: 'type' | 'length' | 'body' = 'type'
  let length = 0
  let multiplier = 1
  let lengthBytes = 0
  let skip = 0
  return {
    feed(chunk) {
      let i = 0
      while (i < chunk.length) {
        if (state === 'body') {
          const n = Math.min(skip, chunk.length - i)
          skip -= n
          i += n
          if (skip === 0) state = 'type'
          continue
        }
        const byte = chunk[i++]!
        if (state === 'type') {
          state = 'length'
          length = 0
          multiplier = 1
          lengthBytes = 0
          continue
        }
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        lengthBytes++
        if (byte & 0x80) {
          // [MQTT-2.2.3] at most four bytes encode the Remaining Length.
          if (lengthBytes === 4) return { kind: 'malformed' }
          continue
        }
        if (length > maxRemainingLength) return { kind: 'oversized', length }
        skip = length
        state = skip === 0 ? 'type' : 'body'
      }
      return OK
    },
  }
}

/**
 * Watch what aedes reads from a device socket ('data' fires for each chunk
 * aedes pulls with read()) and destroy the socket at the first header that
 * declares a packet over the limit.
 */
export function guardPacketSize(socket: Socket, maxRemainingLength: number, onViolation: (verdict: ScanVerdict) => void): void {
  const scanner = createPacketScanner(maxRemainingLength)
  const onData = (chunk: Buffer): void => {
    const verdict = scanner.feed(chunk)
    if (verdict.kind === 'ok') return
    socket.off('data', onData)
    onViolation(verdict)
    socket.destroy()
  }
  socket.on('data', onData)
}
