/**
 * The spool's side of a batched drain, without a network: a store holding N
 * events (100-byte payloads, 100 devices) is copied, opened, and drained the
 * way the uplink drains it in batched mode: readAfter behind a cursor, then
 * one ack per batch of --batch records (spool.ackMany, or ack() per record
 * with --single), each batch first encoded by the uplink's batch builder
 * (records read with their stored bytes, as batched mode reads them; --decoded
 * reads them decoded). CPU time of this process (user + system: all threads,
 * LevelDB's included) and of its main thread alone, per event, from the first
 * read until the last ack's deletes are written (compactions that ran by then
 * included, as spool.compactEveryAcks sets them), per round. Also what
 * LevelDB's compactions wrote from open to close (its LOG file's "Compacted
 * ... => N bytes" lines), as the drain's deletes make it merge them with the
 * records.
 *
 *   npx tsx bench/spool-drain.ts [--events 200000] [--rounds 5] [--batch 500] [--single] [--decoded] [--keep DIR]
 *
 * Compare two versions of the code in the same minutes on a shared machine:
 * run each in turn, several times.
 */
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { openSpool, type Spool } from '../src/spool/spool.js'
import { createBatchBuilder } from '../src/uplink/batch-builder.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '500' },
    single: { type: 'boolean', default: false },
    decoded: { type: 'boolean', default: false },
    keep: { type: 'string' },
  },
})
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const BATCH = Number(values.batch)
const log = pino({ level: 'warn' })

async function build(dir: string): Promise<void> {
  const spool = await openSpool({ dir, gatewayId: 'bench', log, maxBatch: 8192, groupCommitMs: 5 })
  const payload = Buffer.alloc(100, 0x61)
  const CHUNK = 8192
  for (let done = 0; done < EVENTS; done += CHUNK) {
    const n = Math.min(CHUNK, EVENTS - done)
    const batch: Array<Promise<unknown>> = []
    for (let i = 0; i < n; i++) {
      const c = (done + i) % 100
      payload.writeUInt32BE(done + i, 0)
      batch.push(spool.append({ clientId: `dev-${c}`, topic: `sensors/dev-${c}/reading`, payload: Buffer.from(payload), qos: 1, retain: false }))
    }
    await Promise.all(batch)
  }
  await spool.close()
}

const CLK_TCK = 100
/** This process's main thread CPU time, ms (Linux). */
function mainCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1000
}

/** Bytes LevelDB's compactions wrote since this store was opened: the sum of its LOG's "Compacted ... => N bytes". */
function compactedBytes(dir: string): number {
  let total = 0
  for (const m of readFileSync(join(dir, 'LOG'), 'utf8').matchAll(/Compacted .* => (\d+) bytes/g)) total += Number(m[1])
  return total
}

const buildBatch = createBatchBuilder({ gatewayId: 'bench', topic: 'outpost/bench/batch', protocolVersion: 5 })
const historical: boolean[] = Array.from({ length: BATCH }, () => false)

function ackBatch(spool: Spool, events: ReadonlyArray<{ seq: number }>): void {
  if (values.single) for (const e of events) spool.ack(e.seq)
  else spool.ackMany(events)
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'outpost-spool-drain-'))
  const source = values.keep ?? join(tmp, 'source')
  if (!existsSync(source)) await build(source)
  const rows: string[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const dir = join(tmp, `round-${round}`)
    cpSync(source, dir, { recursive: true })
    const spool = await openSpool({ dir, gatewayId: 'bench', log })
    const cpu0 = process.cpuUsage()
    const main0 = mainCpuMs()
    const t0 = performance.now()
    let cursor = -1
    let drained = 0
    let bytes = 0
    for (;;) {
      const events = await spool.readAfter(cursor, 8192, values.decoded ? undefined : { raw: true })
      if (events.length === 0) break
      cursor = events.at(-1)!.seq
      for (let i = 0; i < events.length; i += BATCH) {
        const batch = events.slice(i, i + BATCH)
        bytes += buildBatch(batch, historical).payload.byteLength
        ackBatch(spool, batch)
      }
      drained += events.length
    }
    // The last deletes go after at most 5 ms; wait for them (a read waits for nothing, an append would).
    while (spool.stats().pending > 0) await new Promise((resolve) => setTimeout(resolve, 1))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const c = process.cpuUsage(cpu0)
    const mainMs = mainCpuMs() - main0
    const wall = performance.now() - t0
    rows.push(`round ${round}: ${drained} events, ${((c.user + c.system) / drained).toFixed(2)} µs CPU/event (main thread ${((mainMs * 1000) / drained).toFixed(2)}), ${(drained / (wall / 1000)).toFixed(0)} events/s, ${(bytes / drained).toFixed(0)} batch bytes/event`)
    console.log(rows.at(-1))
    await spool.close()
    console.log(`  LevelDB compactions wrote ${(compactedBytes(dir) / 1e6).toFixed(1)} MB from open to close`)
    rmSync(dir, { recursive: true, force: true })
  }
  if (values.keep === undefined) rmSync(tmp, { recursive: true, force: true })
}

await main()
