/**
 * What the spool's head compaction costs in a drain, in LevelDB alone: 200k records of 150 bytes
 * are written, then read in order 8,192 at a time and deleted 2,048 per batch (as the uplink
 * drains and the spool deletes), with a compactRange of the deleted head every N deletes
 * (spool.compactEveryAcks) and, optionally, once at the end. Prints this process's CPU per record
 * (all threads: LevelDB's compaction runs on its own thread) for the drain, and with the final
 * compaction.
 *
 *   npx tsx bench/level-compact.ts
 */
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

const N = 200_000
const DIR = join(tmpdir(), `outpost-level-compact-${process.pid}`)
const key = (i: number): string => '!e!' + i.toString(16).padStart(16, '0')
const value = new Uint8Array(150).map((_, i) => (i * 7 + 13) & 0xff)

async function run(every: number, final: boolean): Promise<void> {
  rmSync(DIR, { recursive: true, force: true })
  const db = new ClassicLevel<string, Uint8Array>(DIR, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  for (let i = 0; i < N; i += 500) {
    const b = db.batch()
    for (let j = i; j < i + 500; j++) {
      const v = value.slice()
      v[0] = j & 0xff
      v[1] = (j >> 8) & 0xff
      b.put(key(j), v)
    }
    await b.write({ sync: false })
  }
  // Let LevelDB's own compactions after the writes settle.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const c0 = process.cpuUsage()
  let acks = 0
  for (let i = 0; i < N; i += 8192) {
    const end = Math.min(N, i + 8192)
    await db.iterator({ gte: key(i), lt: key(end) }).all()
    for (let j = i; j < end; j += 2048) {
      const to = Math.min(end, j + 2048)
      const b = db.batch()
      for (let k = j; k < to; k++) b.del(key(k))
      await b.write({ sync: false })
      acks += to - j
      if (every > 0 && acks >= every) {
        acks = 0
        await db.compactRange(key(0), key(to))
      }
    }
  }
  const drain = process.cpuUsage(c0)
  if (final) await db.compactRange(key(0), key(N))
  const all = process.cpuUsage(c0)
  const us = (c: NodeJS.CpuUsage): string => ((c.user + c.system) / N).toFixed(2)
  console.log(`compact every ${String(every || 'never').padStart(6)}${final ? ' and at the end' : '             '}: drain ${us(drain)} µs/record, with the final compaction ${us(all)}`)
  await db.close()
}

for (let round = 0; round < 2; round++) {
  await run(0, false)
  await run(50_000, true)
  await run(12_500, true)
  await run(0, true)
}
rmSync(DIR, { recursive: true, force: true })
