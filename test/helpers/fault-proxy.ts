import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 that a test puts between the gateway and the cloud
 * broker and then misbehaves on command:
 *
 * - `pass()`: relay bytes as they come (also clears latency and the bandwidth cap).
 * - `cut()`: destroy both sides of every open connection (new ones are relayed).
 * - `down()` / `up()`: cut, and destroy every new connection at once until `up()`.
 * - `blackHole()`: keep every socket open, read and drop every byte both ways,
 *   also on connections made while it lasts. The peers see a live link that
 *   carries nothing. `pass()` ends it; the byte streams are then broken, as
 *   after a real outage, so a peer should have given up on them by then.
 * - `latency(ms)`: each chunk is held `ms` before it is written on; order is kept.
 * - `bandwidth(bytesPerSec)`: each direction of each connection at most that rate
 *   (0 = no cap). Chunks are split so the rate is smooth.
 *
 * One job: the link. No MQTT knowledge; counters say what went through.
 */
export type ProxyMode = 'pass' | 'blackhole' | 'down'

export interface FaultProxyStats {
  /** Connections accepted (including those destroyed at once while down). */
  accepted: number
  /** Connections open right now. */
  open: number
  /** Bytes written to the target / back to the client. */
  bytesUp: number
  bytesDown: number
  /** Bytes read and thrown away in black-hole mode. */
  dropped: number
}

export interface FaultProxy {
  readonly port: number
  /** `mqtt://127.0.0.1:<port>`. */
  readonly url: string
  readonly mode: ProxyMode
  pass(): void
  cut(): void
  down(): void
  up(): void
  blackHole(): void
  latency(ms: number): void
  bandwidth(bytesPerSec: number): void
  stats(): FaultProxyStats
  close(): Promise<void>
}

interface Queued {
  data: Buffer | null // null: end of stream
  at: number
}

/** One direction of one connection: a FIFO of chunks released by time. */
class Lane {
  private queue: Queued[] = []
  private timer: NodeJS.Timeout | null = null
  /** When the link is free again under the bandwidth cap. */
  private nextFree = 0
  /** Release time of the last chunk queued: later chunks never go earlier. */
  private lastAt = 0

  constructor(
    private readonly out: Socket,
    private readonly settings: { latencyMs: number; bytesPerSec: number },
    private readonly onWritten: (n: number) => void,
  ) {}

  push(data: Buffer | null): void {
    const now = Date.now()
    const { latencyMs, bytesPerSec } = this.settings
    if (data === null || bytesPerSec <= 0) {
      this.enqueue(data, Math.max(now + latencyMs, this.lastAt, this.nextFree))
      return
    }
    // Pieces of about 1/20 s of the rate, each sent when the cap allows.
    const piece = Math.max(1, Math.floor(bytesPerSec / 20))
    for (let off = 0; off < data.length; off += piece) {
      const part = data.subarray(off, off + piece)
      const at = Math.max(now + latencyMs, this.lastAt, this.nextFree)
      this.nextFree = at + (part.length * 1000) / bytesPerSec
      this.enqueue(part, at)
    }
  }

  /** Forget what is queued (black hole, cut). */
  clear(): void {
    this.queue = []
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.nextFree = 0
    this.lastAt = 0
  }

  private enqueue(data: Buffer | null, at: number): void {
    this.lastAt = at
    this.queue.push({ data, at })
    this.schedule()
  }

  private schedule(): void {
    if (this.timer !== null) return
    const head = this.queue[0]
    if (head === undefined) return
    const wait = head.at - Date.now()
    if (wait <= 0) {
      this.flush()
      return
    }
    this.timer = setTimeout(() => { this.timer = null; this.flush() }, wait)
  }

  private flush(): void {
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { data } = this.queue.shift()!
      if (this.out.destroyed) { this.clear(); return }
      if (data === null) {
        this.out.end()
      } else {
        this.out.write(data)
        this.onWritten(data.length)
      }
    }
    this.schedule()
  }
}

interface Pair {
  client: Socket
  target: Socket
  up: Lane
  down: Lane
  /** A side ended or failed while the black hole hid it: closed on `pass()`. */
  broken: boolean
}

export async function startFaultProxy(opts: { targetPort: number; targetHost?: string; port?: number }): Promise<FaultProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1'
  let mode: ProxyMode = 'pass'
  const settings = { latencyMs: 0, bytesPerSec: 0 }
  const pairs = new Set<Pair>()
  const counters = { accepted: 0, bytesUp: 0, bytesDown: 0, dropped: 0 }

  // Half-open on both sides: a FIN is relayed in turn, after the bytes queued before it.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    counters.accepted++
    if (mode === 'down') {
      client.destroy()
      return
    }
    client.setNoDelay(true)
    const target = connect({ port: opts.targetPort, host: targetHost, allowHalfOpen: true })
    target.setNoDelay(true)
    const pair: Pair = {
      client,
      target,
      up: new Lane(target, settings, (n) => { counters.bytesUp += n }),
      down: new Lane(client, settings, (n) => { counters.bytesDown += n }),
      broken: false,
    }
    pairs.add(pair)
    const relay = (lane: Lane) => (data: Buffer): void => {
      if (mode === 'blackhole') {
        counters.dropped += data.length
        return
      }
      lane.push(data)
    }
    client.on('data', relay(pair.up))
    target.on('data', relay(pair.down))
    const teardown = (): void => {
      if (!pairs.delete(pair)) return
      pair.up.clear()
      pair.down.clear()
      client.destroy()
      target.destroy()
    }
    // In a black hole neither peer may learn that the other went away.
    const hidden = (): boolean => {
      if (mode !== 'blackhole') return false
      pair.broken = true
      return true
    }
    // A half-close travels like data (after what is queued).
    client.on('end', () => { if (!hidden()) pair.up.push(null) })
    target.on('end', () => { if (!hidden()) pair.down.push(null) })
    client.on('error', () => { if (!hidden()) teardown() })
    target.on('error', () => { if (!hidden()) teardown() })
    // A clean close lets the other side finish what is queued (its FIN is in its lane).
    client.on('close', (hadError) => { if (!hidden() && (hadError || target.destroyed)) teardown() })
    target.on('close', (hadError) => { if (!hidden() && (hadError || client.destroyed)) teardown() })
  })

  function destroyAll(): void {
    for (const p of [...pairs]) {
      pairs.delete(p)
      p.up.clear()
      p.down.clear()
      p.client.destroy()
      p.target.destroy()
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no port')
  const port = address.port

  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get mode() { return mode },
    pass() {
      mode = 'pass'
      settings.latencyMs = 0
      settings.bytesPerSec = 0
      // Connections a black hole kept open although a side went away are closed now.
      for (const p of [...pairs]) {
        if (!p.broken) continue
        pairs.delete(p)
        p.client.destroy()
        p.target.destroy()
      }
    },
    cut() {
      destroyAll()
    },
    down() {
      mode = 'down'
      destroyAll()
    },
    up() {
      if (mode === 'down') mode = 'pass'
    },
    blackHole() {
      mode = 'blackhole'
      for (const p of pairs) { p.up.clear(); p.down.clear() }
    },
    latency(ms: number) {
      settings.latencyMs = Math.max(0, ms)
    },
    bandwidth(bytesPerSec: number) {
      settings.bytesPerSec = Math.max(0, bytesPerSec)
    },
    stats() {
      return { ...counters, open: pairs.size }
    },
    close() {
      destroyAll()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
