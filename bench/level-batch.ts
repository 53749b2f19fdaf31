/**
 * LevelDB batch forms compared: abstract-level's array batch against the
 * chained batch, with sublevels or pre-prefixed keys, synced, 100k events of
 * two puts each in batches of 500. Prints events/s and CPU µs per event.
 *
 *   npx tsx bench/level-batch.ts
 */
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

type Db = ClassicLevel<string, Uint8Array>
type Sub = ReturnType<Db['sublevel']>
const N = 100_000
const B = 500
const DIR = join(tmpdir(), `outpost-level-batch-${process.pid}`)
const value = new Uint8Array(130)
const key = (i: number): string => i.toString(16).padStart(16, '0')

async function run(name: string, write: (db: Db, e: Sub, d: Sub, from: number) => Promise<void>): Promise<void> {
  rmSync(DIR, { recursive: true, force: true })
  const db = new ClassicLevel<string, Uint8Array>(DIR, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const e = db.sublevel('e', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sub
  const d = db.sublevel('d', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sub
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  for (let i = 0; i < N; i += B) await write(db, e, d, i)
  const c = process.cpuUsage(c0)
  console.log(`${name.padEnd(18)} ${(N / ((performance.now() - t0) / 1000)).toFixed(0).padStart(7)} events/s  ${((c.user + c.system) / N).toFixed(1)} µs CPU/event`)
  await db.close()
}

await run('array+sublevel', (db, e, d, s) => {
  const ops = []
  for (let i = s; i < s + B; i++) {
    ops.push({ type: 'put' as const, sublevel: e, key: key(i), value }, { type: 'put' as const, sublevel: d, key: `c\u0000${i}`, value })
  }
  return db.batch(ops as never, { sync: true })
})
await run('array+prefixed', (db, _e, _d, s) => {
  const ops = []
  for (let i = s; i < s + B; i++) {
    ops.push({ type: 'put' as const, key: `!e!${key(i)}`, value }, { type: 'put' as const, key: `!d!c\u0000${i}`, value })
  }
  return db.batch(ops, { sync: true })
})
await run('chained+sublevel', (db, e, d, s) => {
  const b = db.batch()
  for (let i = s; i < s + B; i++) {
    b.put(key(i), value, { sublevel: e as never })
    b.put(`c\u0000${i}`, value, { sublevel: d as never })
  }
  return b.write({ sync: true })
})
await run('chained+prefixed', (db, _e, _d, s) => {
  const b = db.batch()
  for (let i = s; i < s + B; i++) {
    b.put(`!e!${key(i)}`, value)
    b.put(`!d!c\u0000${i}`, value)
  }
  return b.write({ sync: true })
})
rmSync(DIR, { recursive: true, force: true })
