/**
 * Spool reads of a backlog: a store holding N events (100-byte payloads,
 * 100 devices) is opened and read from the head to the end through
 * spool.readAfter, the way the uplink drains it, without acks. Reports CPU
 * time of this process (user + system, which includes LevelDB's threads)
 * and wall time per record, per round. The store is built once (in --keep,
 * or a temporary folder) and reopened for every round.
 *
 *   npx tsx bench/spool-read.ts [--events 100000] [--rounds 5] [--limit 2048] [--keep DIR]
 *
 * Compare two versions of the code in the same minute on a shared machine:
 * run each in turn, several times.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { openSpool } from '../src/spool/spool.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '5' },
    limit: { type: 'string', default: '2048' },
    keep: { type: 'string' },
  },
})
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const LIMIT = Number(values.limit)
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

async function main(): Promise<void> {
  const tmp = values.keep === undefined ? await mkdtemp(join(tmpdir(), 'outpost-spool-read-')) : null
  const dir = values.keep ?? join(tmp!, 'spool')
  if (!existsSync(dir)) await build(dir)
  const rows: string[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const spool = await openSpool({ dir, gatewayId: 'bench', log, tailRecords: 0 })
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let records = 0
    let payloadBytes = 0
    for (let cursor = -1; ;) {
      const batch = await spool.readAfter(cursor, LIMIT)
      if (batch.length === 0) break
      records += batch.length
      for (const e of batch) payloadBytes += e.payload.length
      cursor = batch.at(-1)!.seq
    }
    const wall = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    await spool.close()
    if (records !== EVENTS) throw new Error(`read ${records} records, expected ${EVENTS}`)
    const usPer = (cpu.user + cpu.system) / records
    rows.push(`round ${round}: ${records} records (${(payloadBytes / 1e6).toFixed(1)} MB payload), CPU ${usPer.toFixed(2)} us/record ` +
      `(user ${(cpu.user / records).toFixed(2)}, sys ${(cpu.system / records).toFixed(2)}), wall ${(wall * 1000 / records).toFixed(2)} us/record`)
    console.log(rows.at(-1))
  }
  if (tmp !== null) await rm(tmp, { recursive: true, force: true })
}

await main()
