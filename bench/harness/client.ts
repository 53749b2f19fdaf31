import { connect as netConnect, type Socket } from 'node:net'
import { connectPacket, DISCONNECT, PacketSplitter, PacketType, type Packet } from './wire.js'

/**
 * A raw MQTT 3.1.1 connection: CONNECT, wait for CONNACK, then hand every
 * further packet to `onPacket`. No reconnect, no keepalive, no queue: the
 * load generator and the subscriber build what they need on top.
 */
export interface RawConnection {
  socket: Socket
  write(buf: Buffer): boolean
  close(): Promise<void>
  /** Resolves when the socket closes, for whatever reason. */
  closed: Promise<void>
}

export function rawConnect(opts: {
  port: number
  clientId: string
  clean: boolean
  onPacket: (p: Packet) => void
  timeoutMs?: number
}): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port: opts.port, host: '127.0.0.1', noDelay: true })
    const splitter = new PacketSplitter()
    let connected = false
    const timer = setTimeout(() => fail(new Error(`no CONNACK from 127.0.0.1:${opts.port} within ${opts.timeoutMs ?? 5000} ms`)), opts.timeoutMs ?? 5000)
    let closedResolve: () => void = () => {}
    const closed = new Promise<void>((r) => { closedResolve = r })
    socket.once('close', () => {
      closedResolve()
      if (!connected) fail(new Error('connection closed before CONNACK'))
    })
    socket.on('error', (err) => { if (!connected) fail(err) })
    function fail(err: Error): void {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    socket.on('data', (chunk: Buffer) => {
      splitter.push(chunk, (p) => {
        if (!connected) {
          if (p.type !== PacketType.CONNACK) return fail(new Error(`expected CONNACK, got packet type ${p.type}`))
          const rc = p.body[1] ?? 255
          if (rc !== 0) return fail(new Error(`CONNACK return code ${rc}`))
          connected = true
          clearTimeout(timer)
          resolve({
            socket,
            write: (buf) => socket.write(buf),
            closed,
            close: async () => {
              if (!socket.destroyed) {
                socket.end(DISCONNECT)
                const t = setTimeout(() => socket.destroy(), 1000)
                await closed
                clearTimeout(t)
              }
            },
          })
          return
        }
        opts.onPacket(p)
      })
    })
    socket.once('connect', () => socket.write(connectPacket(opts.clientId, opts.clean)))
  })
}

/**
 * Polls until a CONNECT to the port gets a CONNACK; returns the milliseconds
 * from `since` (performance.now() time) to that CONNACK. Used for "accepting
 * device connections".
 */
export async function waitAccepting(port: number, since: number, timeoutMs: number, isAlive: () => boolean = () => true): Promise<number> {
  const deadline = performance.now() + timeoutMs
  let n = 0
  while (performance.now() < deadline) {
    if (!isAlive()) throw new Error(`process exited before accepting connections on port ${port}`)
    try {
      const c = await rawConnect({ port, clientId: `bench-probe-${process.pid}-${n++}`, clean: true, onPacket: () => {}, timeoutMs: 2000 })
      const at = performance.now() - since
      await c.close()
      return at
    } catch {
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  throw new Error(`port ${port} did not accept an MQTT connection within ${timeoutMs} ms`)
}
