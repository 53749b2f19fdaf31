import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from '../../test/helpers/free-port.js'
import type { Generator } from './generator.js'
import { cloudMosquitto, edgeMosquitto, type MosquittoProcess } from './mosquitto.js'
import { outpost, type BatchProbe } from './outpost.js'
import type { ServerProcess } from './process.js'
import type { Subscriber, Tracker } from './subscriber.js'

/** The systems compared. 'batched' is Outpost with `upstream.batch` on, when the build has it. */
export type SystemKind = 'outpost' | 'mosquitto' | 'batched'

export const SYSTEM_LABEL: Record<SystemKind, string> = {
  outpost: 'Outpost',
  mosquitto: 'Mosquitto bridge',
  batched: 'Outpost batched',
}

export interface Edge {
  kind: SystemKind
  proc: ServerProcess
  port: number
  dir: string
  /** Device topics go under this prefix; unique per edge instance. */
  topicPrefix: string
}

export interface Context {
  quick: boolean
  rounds: number
  /** Root of this run's temp files (removed at the end unless --keep). */
  dir: string
  cloud: MosquittoProcess
  subscriber: Subscriber
  generator: Generator
  batch: BatchProbe
  cpuProfDir: string | undefined
  /** A new run tag (payload field) for one measured run. */
  nextTag(): number
  /** A fresh edge of the given kind with its own dir and port; started by the caller. */
  edge(kind: SystemKind, opts?: { cpuProfDir?: string }): Promise<Edge>
  /** Stops the edge (SIGTERM) and removes its files. */
  dispose(edge: Edge): Promise<void>
  /**
   * Sends events through the edge and waits until they reach the cloud: the
   * path is up. A few by default; `load` for a warm-up under the measured
   * load (a JIT-compiled edge runs its first tens of thousands of events
   * slower than the rest).
   */
  warmUp(edge: Edge, load?: WarmUpLoad): Promise<void>
  /**
   * One measured round on a fresh edge: `body` returns the round's detail
   * line. An error is recorded in `res.errors` instead of ending the run; the
   * cloud is started again if the body left it down, and the edge disposed.
   */
  round(res: { details: string[]; errors: string[] }, label: string, kind: SystemKind, body: (edge: Edge) => Promise<string>): Promise<void>
  log(line: string): void
}

/** A warm-up burst: `publishers` devices, `perPublisher` events each, `inflight` unanswered each. */
export interface WarmUpLoad {
  publishers: number
  perPublisher: number
  inflight: number
}

export async function createContext(o: {
  quick: boolean
  rounds: number
  dir: string
  generator: Generator
  batch: BatchProbe
  cpuProfDir: string | undefined
  /** Keep each edge's folder (its log, its data) after the edge is disposed. */
  keep?: boolean
  startSubscriber: (port: number) => Promise<Subscriber>
}): Promise<Context & { close(): Promise<void> }> {
  let tag = (Date.now() % 100_000) * 1000
  let instance = 0
  const cloudPort = await freePort()
  const cloud = await cloudMosquitto(join(o.dir, 'cloud'), cloudPort)
  await cloud.start()
  const subscriber = await o.startSubscriber(cloudPort)

  const ctx: Context = {
    quick: o.quick,
    rounds: o.rounds,
    dir: o.dir,
    cloud,
    subscriber,
    generator: o.generator,
    batch: o.batch,
    cpuProfDir: o.cpuProfDir,
    nextTag: () => ++tag,
    async edge(kind, opts = {}) {
      const n = ++instance
      const dir = join(o.dir, `${kind}-${n}`)
      await mkdir(dir, { recursive: true })
      const port = await freePort()
      const proc = kind === 'mosquitto'
        ? await edgeMosquitto(dir, port, cloud.port, `bench-bridge-${n}`)
        : await outpost({
          dir, port, cloudPort: cloud.port, upstreamClientId: `bench-outpost-${n}`,
          ...(kind === 'batched' ? { batchYaml: o.batch.yaml } : {}),
          ...(opts.cpuProfDir !== undefined ? { cpuProfDir: opts.cpuProfDir } : {}),
        })
      return { kind, proc, port, dir, topicPrefix: `bench/e${n}` }
    },
    async dispose(edge) {
      await edge.proc.stop()
      if (o.keep !== true) await rm(edge.dir, { recursive: true, force: true })
    },
    async warmUp(edge, load = { publishers: 1, perPublisher: 100, inflight: 10 }) {
      const t = ctx.nextTag()
      const { publishers, perPublisher, inflight } = load
      const n = publishers * perPublisher
      const tracker: Tracker = subscriber.expect({ tag: t, publishers, perPublisher })
      const r = await o.generator.burst({ port: edge.port, publishers, events: perPublisher, inflight, tag: t, topicPrefix: `${edge.topicPrefix}/warm`, timeoutMs: 60_000 })
      if (r.error !== undefined) throw new Error(`warm-up publish failed: ${r.error}`)
      if (!await tracker.waitFor(n, 60_000)) throw new Error(`warm-up: only ${tracker.unique}/${n} events reached the cloud in 60 s`)
    },
    async round(res, label, kind, body) {
      const edge = await ctx.edge(kind)
      try {
        const line = await body(edge)
        res.details.push(line)
        ctx.log(`  ${line}`)
      } catch (err) {
        res.errors.push(`${label}: ${(err as Error).message}`)
        ctx.log(`  ERROR ${kind}: ${(err as Error).message}`)
      } finally {
        if (!cloud.running) await cloud.start()
        await ctx.dispose(edge)
      }
    },
    log: (line) => console.log(line),
  }
  return {
    ...ctx,
    async close() {
      await subscriber.close()
      await cloud.stop()
    },
  }
}
