import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'

/*
 * The fault proxy against a plain TCP echo server. Durations are only ever
 * checked from below (data cannot arrive before the delay it was given), never
 * from above, so a loaded machine cannot fail these tests.
 */

async function echoServer(t: Test): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => { /* the proxy may cut it */ })
    s.on('data', (d) => s.write(d))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { server, port: (server.address() as { port: number }).port, sockets }
}

async function withProxy(t: Test): Promise<{ proxy: FaultProxy; sockets: Set<Socket> }> {
  const echo = await echoServer(t)
  const proxy = await startFaultProxy({ targetPort: echo.port })
  t.teardown(() => proxy.close())
  return { proxy, sockets: echo.sockets }
}

interface Client {
  socket: Socket
  received: () => Buffer
  waitFor(bytes: number, timeoutMs?: number): Promise<void>
  closed: Promise<void>
}

async function client(port: number): Promise<Client> {
  const socket = connect({ port, host: '127.0.0.1' })
  socket.on('error', () => { /* cut by the proxy */ })
  const chunks: Buffer[] = []
  const waiters = new Set<() => void>()
  socket.on('data', (d: Buffer) => { chunks.push(d); for (const w of waiters) w() })
  const closed = once(socket, 'close').then(() => undefined)
  await once(socket, 'connect')
  const received = (): Buffer => Buffer.concat(chunks)
  return {
    socket,
    received,
    closed,
    waitFor(bytes, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (received().length < bytes) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`only ${received().length} of ${bytes} bytes`)) }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met')
    await sleep(10)
  }
}

t.test('pass: bytes go through both ways, in order', async (t) => {
  const { proxy } = await withProxy(t)
  const c = await client(proxy.port)
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251))
  for (let i = 0; i < data.length; i += 700) c.socket.write(data.subarray(i, i + 700))
  await c.waitFor(data.length)
  t.same(c.received(), data)
  t.equal(proxy.stats().bytesUp, data.length)
  t.equal(proxy.stats().bytesDown, data.length)
  t.equal(proxy.stats().open, 1)
  c.socket.destroy()
})

t.test('cut: both sides of every open connection are destroyed; new connections work', async (t) => {
  const { proxy, sockets } = await withProxy(t)
  const c = await client(proxy.port)
  c.socket.write('hello')
  await c.waitFor(5)
  t.equal(sockets.size, 1)
  proxy.cut()
  await c.closed
  await until(() => sockets.size === 0)
  t.pass('client and server side both closed')
  const c2 = await client(proxy.port)
  c2.socket.write('again')
  await c2.waitFor(5)
  t.equal(c2.received().toString(), 'again')
  c2.socket.destroy()
})

t.test('down refuses connections until up', async (t) => {
  const { proxy } = await withProxy(t)
  const c = await client(proxy.port)
  proxy.down()
  await c.closed
  const refused = connect({ port: proxy.port, host: '127.0.0.1' })
  refused.on('error', () => { /* reset */ })
  await once(refused, 'close')
  t.equal(proxy.mode, 'down')
  t.ok(proxy.stats().accepted >= 2)
  proxy.up()
  const c2 = await client(proxy.port)
  c2.socket.write('up')
  await c2.waitFor(2)
  t.equal(c2.received().toString(), 'up')
  c2.socket.destroy()
})

t.test('black hole: sockets stay open, nothing gets through either way; pass restores new connections', async (t) => {
  const { proxy, sockets } = await withProxy(t)
  const c = await client(proxy.port)
  c.socket.write('before')
  await c.waitFor(6)
  proxy.blackHole()
  let closed = false
  void c.closed.then(() => { closed = true })
  c.socket.write('x'.repeat(10_000))
  await until(() => proxy.stats().dropped >= 10_000)
  await sleep(300)
  t.equal(c.received().length, 6, 'nothing came back')
  t.equal(closed, false, 'the client socket is still open')
  t.equal(sockets.size, 1, 'the server socket is still open')
  // Even the far side closing is not seen through a black hole.
  for (const s of sockets) s.destroy()
  await sleep(200)
  t.equal(closed, false, 'the client did not learn that the server went away')
  // New connections during a black hole are swallowed too.
  const c2 = await client(proxy.port)
  c2.socket.write('lost')
  await until(() => proxy.stats().dropped >= 10_004)
  t.equal(c2.received().length, 0)

  proxy.pass()
  await c.closed
  t.pass('pass closes the connection whose far side went away meanwhile')
  c2.socket.destroy()
  const c3 = await client(proxy.port)
  c3.socket.write('after')
  await c3.waitFor(5)
  t.equal(c3.received().toString(), 'after')
  c3.socket.destroy()
})

t.test('latency: every chunk is held at least the delay, order kept', async (t) => {
  const { proxy } = await withProxy(t)
  proxy.latency(150)
  const c = await client(proxy.port)
  const started = Date.now()
  const parts = ['a', 'bb', 'ccc', 'dddd', 'eeeee']
  for (const p of parts) { c.socket.write(p); await sleep(5) }
  await c.waitFor(15)
  // Up and down both delayed: at least two delays for the round trip.
  t.ok(Date.now() - started >= 295, 'not before two delays')
  t.equal(c.received().toString(), parts.join(''))
  proxy.pass()
  c.socket.destroy()
})

t.test('bandwidth cap: bytes/s both ways, order kept', async (t) => {
  const { proxy } = await withProxy(t)
  proxy.bandwidth(20_000)
  const c = await client(proxy.port)
  const data = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) % 256))
  const started = Date.now()
  c.socket.write(data)
  await c.waitFor(data.length)
  // 20 kB at 20 kB/s up, then the same down, pipelined: about 1 s at the least.
  t.ok(Date.now() - started >= 900, `at least ~1 s (took ${Date.now() - started} ms)`)
  t.same(c.received(), data)
  c.socket.destroy()
})

t.test('a half-close travels after the queued bytes', async (t) => {
  const { proxy } = await withProxy(t)
  proxy.latency(50)
  const c = await client(proxy.port)
  c.socket.end('bye')
  await c.closed
  t.equal(c.received().toString(), 'bye', 'echo came back before the close')
})
