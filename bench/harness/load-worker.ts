import { parentPort } from 'node:worker_threads'
import { runLoad, type LoadRequest } from './load.js'

/** Worker-thread entry of the load generator: one request at a time, one reply each. */
parentPort!.on('message', (req: LoadRequest) => {
  runLoad(req).then(
    (result) => parentPort!.postMessage(result),
    (err: unknown) => parentPort!.postMessage({ sent: 0, acked: 0, elapsedMs: 0, startedAtNs: '0', ackedAtNs: '0', elu: 0, maxLagMs: 0, error: String((err as Error)?.message ?? err) }),
  )
})
