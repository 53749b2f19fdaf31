import { Worker } from 'node:worker_threads'
import type { BurstRequest, LoadResult, PacedRequest } from './load.js'

/**
 * The load generator as seen from the runner: a worker thread (its own event
 * loop, so it can use the second core while the subscriber uses this one).
 * It is TypeScript too, loaded through tsx's API.
 */
export interface Generator {
  burst(req: Omit<BurstRequest, 'kind'>): Promise<LoadResult>
  paced(req: Omit<PacedRequest, 'kind'>): Promise<LoadResult>
  close(): Promise<void>
}

export function startGenerator(): Generator {
  // The worker needs the TypeScript loader too; tsx does not hand it to workers
  // on its own, so a two-line bootstrap loads the entry through tsx's API.
  const api = import.meta.resolve('tsx/esm/api')
  const entry = new URL('./load-worker.ts', import.meta.url).href
  const worker = new Worker(`import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`, { eval: true })
  let busy: Promise<unknown> = Promise.resolve()
  function call(req: BurstRequest | PacedRequest): Promise<LoadResult> {
    const run = busy.then(() => new Promise<LoadResult>((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      worker.once('error', onError)
      worker.once('message', (result: LoadResult) => {
        worker.off('error', onError)
        resolve(result)
      })
      worker.postMessage(req)
    }))
    busy = run.catch(() => {})
    return run
  }
  return {
    burst: (req) => call({ kind: 'burst', ...req }),
    paced: (req) => call({ kind: 'paced', ...req }),
    close: async () => { await worker.terminate() },
  }
}
