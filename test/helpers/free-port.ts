import { createServer } from 'node:net'

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it,
 * we release it at once. Another process may take it in between; tests accept
 * that small race rather than hard-coding ports.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error('could not read the port of a test listener'))
        return
      }
      const port = address.port
      server.close(() => resolve(port))
    })
  })
}
