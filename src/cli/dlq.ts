/**
 * `outpost dlq list|show|replay|purge`: the dead-letter store of a stopped
 * gateway. The store (and the spool, for replay) is opened directly; while a
 * gateway runs on the same data directory it holds their locks and the
 * command says so (OUTPOST_DLQ_LOCKED / OUTPOST_SPOOL_LOCKED, exit code 1).
 */
import { join, resolve } from 'node:path'
import { decode } from 'cbor-x'
import { createChecker } from '../contracts/checker.js'
import { openDeadLetterStore, type DeadLetter, type DeadLetterStore } from '../contracts/dead-letter.js'
import { loadContracts } from '../contracts/loader.js'
import { replayDeadLetters } from '../contracts/replay.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import { openSpool } from '../spool/spool.js'
import { CommandExit, commandConfig } from './command-config.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

export interface DlqArgs {
  sub: string | undefined
  rest: string[]
  configFile: string | undefined
  json: boolean
  limit: number | undefined
  all: boolean
  io: CliIo
}

const SUBCOMMANDS = ['list', 'show', 'replay', 'purge']

/** The payload for a person: UTF-8 text when it is, else CBOR as JSON when it decodes, else base64. */
export function describePayload(payload: Uint8Array): { encoding: 'utf8' | 'cbor' | 'base64'; text: string } {
  try {
    return { encoding: 'utf8', text: new TextDecoder('utf-8', { fatal: true }).decode(payload) }
  } catch { /* not text */ }
  try {
    return { encoding: 'cbor', text: JSON.stringify(decode(payload)) }
  } catch { /* not CBOR */ }
  return { encoding: 'base64', text: Buffer.from(payload).toString('base64') }
}

function asJson(e: DeadLetter): Record<string, unknown> {
  const p = describePayload(e.payload)
  return {
    seq: e.seq, at: new Date(e.at).toISOString(), clientId: e.clientId, topic: e.topic, qos: e.qos, retain: e.retain,
    reason: e.reason, errors: e.errors, deviceType: e.deviceType ?? null, contractVersion: e.contractVersion ?? null,
    bytes: e.payload.length, payloadEncoding: p.encoding, payload: p.text,
  }
}

function seqArgs(args: string[]): number[] {
  return args.map((a) => {
    if (!/^\d+$/.test(a)) throw new OutpostError(ErrorCodes.CLI_USAGE, `"${a}" is not an entry number (see outpost dlq list)`)
    return Number(a)
  })
}

export async function dlqCommand(a: DlqArgs): Promise<number> {
  const { io } = a
  if (a.sub === undefined || !SUBCOMMANDS.includes(a.sub)) {
    throw new OutpostError(ErrorCodes.CLI_USAGE, `dlq needs one of ${SUBCOMMANDS.join(', ')}${a.sub === undefined ? '' : `, got "${a.sub}"`}`)
  }
  if (a.sub === 'list' && a.rest.length > 0) {
    throw new OutpostError(ErrorCodes.CLI_USAGE, `dlq list takes no arguments, got "${a.rest.join(' ')}"`)
  }
  const seqs = seqArgs(a.rest)
  if (a.sub === 'show' && seqs.length !== 1) throw new OutpostError(ErrorCodes.CLI_USAGE, 'dlq show takes one entry number')
  if (a.sub === 'purge' && seqs.length === 0 && !a.all) throw new OutpostError(ErrorCodes.CLI_USAGE, 'dlq purge takes entry numbers, or --all')

  let cfg
  try {
    cfg = commandConfig(a.configFile, io)
  } catch (err) {
    if (err instanceof CommandExit) return err.exitCode
    throw err
  }
  const { config, dataDir, log } = cfg
  let store: DeadLetterStore
  try {
    store = await openDeadLetterStore({
      dir: join(dataDir, 'dlq'), log, maxEntries: config.contracts.deadLetter.maxEntries, maxBytes: config.contracts.deadLetter.maxBytes,
    })
  } catch (err) {
    if (err instanceof OutpostError) {
      io.stderr.write(`outpost: ${err.message} (${err.code})\n`)
      return ExitCodes.FAILURE
    }
    throw err
  }
  try {
    switch (a.sub) {
      case 'list': {
        const entries = await store.list(a.limit === undefined ? {} : { limit: a.limit })
        const s = store.stats()
        if (a.json) {
          io.stdout.write(JSON.stringify({ ...s, entries: entries.map(asJson) }) + '\n')
        } else {
          io.stdout.write(`${s.entries} dead letters, ${s.bytes} bytes; ${s.dropped} dropped because the store was full\n`)
          for (const e of entries) {
            io.stdout.write(`${e.seq}\t${new Date(e.at).toISOString()}\t${e.clientId}\t${e.topic}\t${e.reason}\t${e.errors[0] ?? ''}\n`)
          }
        }
        return ExitCodes.OK
      }
      case 'show': {
        const e = await store.get(seqs[0]!)
        if (e === undefined) {
          io.stderr.write(`outpost: no dead letter ${seqs[0]!} (${ErrorCodes.DLQ_NOT_FOUND})\n`)
          return ExitCodes.FAILURE
        }
        io.stdout.write(JSON.stringify(asJson(e), null, a.json ? undefined : 2) + '\n')
        return ExitCodes.OK
      }
      case 'purge': {
        const targets = a.all ? (await store.list()).map((e) => e.seq) : seqs
        const removed = await store.remove(targets)
        io.stdout.write(`purged ${removed} dead letter${removed === 1 ? '' : 's'}\n`)
        return ExitCodes.OK
      }
      default: {
        if (config.contracts.dir === null) {
          io.stderr.write('outpost: dlq replay checks events against the contracts, but contracts.dir is not set in the configuration\n')
          return ExitCodes.CONFIG
        }
        let contracts
        try {
          contracts = loadContracts(resolve(config.contracts.dir))
        } catch (err) {
          if (err instanceof OutpostError && err.code === ErrorCodes.CONTRACT_INVALID) {
            io.stderr.write(`outpost: ${err.message}\n`)
            return ExitCodes.CONFIG
          }
          throw err
        }
        const checker = createChecker(contracts, { gatewayId: config.gateway.id, rateLimits: false })
        const spool = await openSpool({ dir: join(dataDir, 'spool'), gatewayId: config.gateway.id, log, groupCommitMs: config.spool.groupCommitMs, maxBatch: config.spool.maxBatch })
        try {
          const r = await replayDeadLetters({ store, checker, spool, unknownTopics: config.contracts.unknownTopics, ...(seqs.length > 0 ? { only: new Set(seqs) } : {}) })
          if (a.json) {
            io.stdout.write(JSON.stringify({ replayed: r.replayed, stillInvalid: r.stillInvalid.map((x) => ({ seq: x.entry.seq, verdict: x.verdict })) }) + '\n')
          } else {
            io.stdout.write(`replayed ${r.replayed} dead letter${r.replayed === 1 ? '' : 's'} into the spool (forwarded when the gateway runs); ${r.stillInvalid.length} still fail their contract and stay\n`)
            for (const { entry, verdict } of r.stillInvalid.slice(0, 20)) {
              const why = verdict.kind === 'invalid' ? `${verdict.reason}: ${verdict.errors[0] ?? ''}` : 'unknown-topic'
              io.stdout.write(`${entry.seq}\t${entry.clientId}\t${entry.topic}\t${why}\n`)
            }
          }
          return ExitCodes.OK
        } finally {
          await spool.close()
        }
      }
    }
  } catch (err) {
    if (err instanceof OutpostError && err.code !== ErrorCodes.CLI_USAGE) {
      io.stderr.write(`outpost: ${err.message} (${err.code})\n`)
      return ExitCodes.FAILURE
    }
    throw err
  } finally {
    await store.close()
  }
}
