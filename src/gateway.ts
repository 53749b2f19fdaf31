import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { startDeviceBroker, type DeviceBroker } from './broker/device-broker.js'
import { createIngest, type IngestStats } from './broker/ingest.js'
import { createSessionStore } from './broker/session-store.js'
import { createForwardPredicate } from './broker/topic-filter.js'
import { resolveClientId } from './config/resolve.js'
import type { OutpostConfig } from './config/schema.js'
import type { DeadLetterStats } from './contracts/dead-letter.js'
import type { ContractGate } from './contracts/types.js'
import { startStatusLog } from './observability/status-log.js'
import { openSpool, type Spool } from './spool/spool.js'
import type { SpoolStats } from './spool/types.js'
import { createUplink, redactUrl, type Uplink } from './uplink/index.js'


export interface GatewayOptions {
  config: OutpostConfig
  log: Logger
  /** Relative paths in the config resolve against this; the process cwd by default. */
  cwd?: string
}

export interface GatewayStats {
  spool: SpoolStats
  ingest: IngestStats
  uplink: ReturnType<Uplink['stats']> & { status: Uplink['status'] } | null
  devices: number
  /** Dead-letter store counters, when device contracts are on. */
  deadLetter?: DeadLetterStats
}

export interface Gateway {
  readonly port: number
  readonly spool: Spool
  stats(): GatewayStats
  stop(): Promise<void>
}

/**
 * The composition root: opens the spool, starts the device broker on top of
 * it, and the uplink beside it. broker/ and uplink/ never see each other; they
 * meet at the spool.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, log } = opts
  const dataDir = resolve(opts.cwd ?? process.cwd(), config.gateway.dataDir)
  const closers: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) {
      try {
        await close()
      } catch (err) {
        log.error({ err }, 'error while shutting down')
      }
    }
    closers.length = 0
  }

  try {
    // Contracts first: a broken one stops start-up before any store is opened.
    // The contract code (ajv, the AsyncAPI schema, the dead-letter store) is
    // imported only when contracts are on, so a gateway without them never
    // holds it in memory.
    const contractsDir = config.contracts.dir === null ? null : resolve(opts.cwd ?? process.cwd(), config.contracts.dir)
    const contracts = contractsDir === null ? null
      : (await import('./contracts/loader.js')).loadContracts(contractsDir, { cwd: opts.cwd ?? process.cwd() })

    const spool = await openSpool({
      dir: join(dataDir, 'spool'),
      gatewayId: config.gateway.id,
      log: log.child({ part: 'spool' }),
      groupCommitMs: config.spool.groupCommitMs,
      maxBatch: config.spool.maxBatch,
      compactEveryAcks: config.spool.compactEveryAcks,
      limits: {
        maxBytes: config.spool.maxBytes,
        maxAgeMs: config.spool.maxAgeSec * 1000,
        minFreeBytes: config.spool.minFreeBytes,
        onFull: config.spool.onFull,
      },
      checkIntervalMs: config.spool.checkIntervalMs,
    })
    closers.push(() => spool.close())

    const sessions = await createSessionStore({ dir: join(dataDir, 'sessions'), log: log.child({ part: 'sessions' }) })
    closers.push(() => sessions.close())

    let gate: ContractGate | undefined
    let deadLetterStats: (() => DeadLetterStats) | undefined
    if (contracts !== null) {
      const [{ openDeadLetterStore }, { createChecker }] = await Promise.all([import('./contracts/dead-letter.js'), import('./contracts/checker.js')])
      const dlq = await openDeadLetterStore({
        dir: join(dataDir, 'dlq'),
        log: log.child({ part: 'dlq' }),
        maxEntries: config.contracts.deadLetter.maxEntries,
        maxBytes: config.contracts.deadLetter.maxBytes,
      })
      closers.push(() => dlq.close())
      const checker = createChecker(contracts, { gatewayId: config.gateway.id })
      gate = { check: checker.check, unknownTopics: config.contracts.unknownTopics, deadLetter: (e) => dlq.add(e) }
      deadLetterStats = () => dlq.stats()
      log.info({ dir: contractsDir, contracts: contracts.map((c) => `${c.deviceType}@${c.version}`), unknownTopics: config.contracts.unknownTopics,
        deadLetters: dlq.stats().entries }, 'device contracts loaded')
    }

    const ingest = createIngest({
      spool,
      forwards: createForwardPredicate(config.forward),
      maxPayloadBytes: config.broker.maxPayloadBytes,
      storeQos0: config.forward.qos0,
      log: log.child({ part: 'broker' }),
      ...(gate === undefined ? {} : { contracts: gate }),
      holdMs: config.spool.holdMs,
      maxHeld: config.spool.maxHeld,
    })
    // Publishes held for room in the spool are refused at shutdown, after the broker closed.
    closers.push(async () => ingest.close())
    const broker: DeviceBroker = await startDeviceBroker({
      host: config.broker.host,
      port: config.broker.port,
      maxClientIdLength: config.broker.maxClientIdLength,
      maxPayloadBytes: config.broker.maxPayloadBytes,
      authorizePublish: ingest.authorizePublish,
      persistence: sessions,
      log: log.child({ part: 'broker' }),
    })

    let uplink: Uplink | null = null
    const upstream = config.upstream
    if (upstream) {
      uplink = createUplink({
        options: { ...upstream, clientId: resolveClientId(config, upstream) },
        gatewayId: config.gateway.id,
        spool,
        log: log.child({ part: 'uplink' }),
      })
      const up = uplink
      closers.push(() => up.stop())
      uplink.start()
    } else {
      log.warn({ pending: spool.stats().pending }, 'no upstream configured: accepting and buffering events in the spool only')
    }
    // The broker closes first (stop accepting), then the uplink, then the stores.
    closers.push(() => broker.close())

    const stats = (): GatewayStats => ({
      spool: spool.stats(),
      ingest: { ...ingest.stats, hold: { ...ingest.stats.hold } },
      uplink: uplink ? { ...uplink.stats(), status: uplink.status } : null,
      devices: broker.connectedClients(),
      ...(deadLetterStats === undefined ? {} : { deadLetter: deadLetterStats() }),
    })
    // The commit times are taken here only: each status line covers the time since the previous one.
    const stopStatus = startStatusLog({ log, intervalMs: config.log.statusIntervalMs, snapshot: () => ({ ...stats(), commits: spool.takeCommitTimes() }) })
    closers.push(async () => stopStatus())

    log.info({ dataDir, gatewayId: config.gateway.id, port: broker.address.port, upstream: upstream ? redactUrl(upstream.url) : null, pending: spool.stats().pending }, 'outpost started')
    return { port: broker.address.port, spool, stats, stop: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
