// Store reads in chunks (nextv): a damaged block LevelDB steps over is never passed silently,
// whatever the cursor and limit; gaps that were already there are skipped once checked.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import t from 'tap'
import { seqKey } from '../../src/spool/keys.js'
import { openSpool } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

const N = 30_000

const ev = (n: number): EventInput => {
  const payload = Buffer.alloc(200)
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(((n + 1) * 2654435761 + i * 40503) >>> 0, i)
  return { clientId: 'dev', topic: 'sensors/x', payload, qos: 1, retain: false }
}

/** N events in table files, then 4 KiB garbled in the middle of the first table (as damage.test.ts does). */
async function buildDamaged(dir: string): Promise<void> {
  const spool = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, maxBatch: 4096 })
  for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, j) => spool.append(ev(i + j))))
  await spool.close()
  const victim = join(dir, readdirSync(dir).filter((n) => n.endsWith('.ldb')).sort()[0]!)
  const buf = readFileSync(victim)
  buf.fill(0x5a, Math.floor(buf.length / 2), Math.floor(buf.length / 2) + 4096)
  writeFileSync(victim, buf)
}

const inRanges = (seq: number, ranges: Array<{ from: number; to: number }>): boolean => ranges.some((r) => seq >= r.from && seq <= r.to)

/**
 * Reads everything after `cursor` in reads of `limit`. Each batch, when it is returned, may pass
 * over a seq only if the spool has already reported it lost (or quarantined one): never silently.
 */
async function drain(dir: string, cursor: number, limit: number) {
  const cap = captureLog()
  const spool = await openSpool({ dir, gatewayId: 'gw', log: cap.log })
  const seen: number[] = []
  const silent: number[] = []
  let at = cursor
  for (;;) {
    const batch = await spool.readAfter(at, limit)
    if (batch.length === 0) break
    const r = spool.report
    let skippedUnlost = 0
    for (const e of batch) {
      for (let s = at + 1; s < e.seq; s++) if (!inRanges(s, r.lostRanges)) skippedUnlost++
      at = e.seq
      seen.push(e.seq)
    }
    if (skippedUnlost > r.unreadable) silent.push(batch[0]!.seq)
  }
  // What is left after the last record: nothing unless reported.
  const r = spool.report
  let tailUnlost = 0
  for (let s = at + 1; s < N; s++) if (!inRanges(s, r.lostRanges)) tailUnlost++
  return { spool, cap, seen, silent, tailUnlost }
}

t.test('bulk reads meeting a garbled block: never past the damage silently, from any cursor, with any limit', async (t) => {
  const base = t.testdir()
  const template = join(base, 'template')
  await buildDamaged(template)
  let case_ = 0
  const copy = (): string => {
    const dir = join(base, `case-${case_++}`)
    cpSync(template, dir, { recursive: true })
    return dir
  }

  // Where the damage is: a read of everything from the head finds it and repairs.
  const first = await drain(copy(), -1, 5000)
  const r0 = first.spool.report
  t.ok(r0.repaired, 'the read from the head found the damage and repaired')
  t.ok(r0.lost > 0, `${r0.lost} events lost in the garbled block`)
  t.same(first.silent, [], 'no batch passed over a record it had not reported')
  t.equal(first.seen.length + r0.lost + r0.unreadable, N, 'every event read, lost or quarantined')
  await first.spool.close()
  const lostFrom = r0.lostRanges[0]!.from
  const lostTo = r0.lostRanges.at(-1)!.to

  const cursors = [-1, lostFrom - 1025, lostFrom - 257, lostFrom - 1, lostFrom + 3, lostTo]
  for (const limit of [1, 256, 5000]) {
    for (const cursor of cursors) {
      if (limit === 1 && cursor < lostFrom - 300) continue // one record per read over thousands: slow, nothing new
      const name = `cursor ${cursor - lostFrom >= 0 ? '+' : ''}${cursor - lostFrom} from the damage, limit ${limit}`
      const { spool, seen, silent, tailUnlost } = await drain(copy(), cursor, limit)
      const r = spool.report
      t.same(silent, [], `${name}: no batch passed over a record it had not reported lost`)
      t.equal(tailUnlost, 0, `${name}: nothing missing after the last record read`)
      t.same(seen, [...seen].sort((a, b) => a - b), `${name}: in order`)
      if (cursor < lostTo) {
        // The range read covered the damaged block (or started inside it): found and repaired.
        t.ok(r.repaired && r.lost > 0, `${name}: repaired, ${r.lost} reported lost`)
        let notLost = 0
        for (let s = cursor + 1; s < N; s++) if (!inRanges(s, r.lostRanges)) notLost++
        t.equal(seen.length + r.unreadable, notLost, `${name}: every event after the cursor read, lost or quarantined`)
      } else {
        // Past the damage: what is read is all that exists after the cursor.
        t.equal(seen.length, N - cursor - 1, `${name}: every record after the cursor read`)
      }
      const next = await spool.append(ev(1))
      t.ok(next.seq >= N, `${name}: appends go on, sequence numbers not reused`)
      await spool.close()
    }
  }
})

t.test('gaps from acks out of order before a restart: checked once, then skipped; counts unchanged', async (t) => {
  const dir = join(t.testdir(), 'spool')
  const s1 = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, maxBatch: 4096 })
  const total = 6000
  for (let i = 0; i < total; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => s1.append(ev(i + j))))
  // Acks out of order: every third record, and one long run, as a window of in-flight events leaves them.
  const acked = new Set<number>()
  for (let seq = 1; seq < total; seq += 3) acked.add(seq)
  for (let seq = 2000; seq < 2600; seq++) acked.add(seq)
  for (const seq of acked) s1.ack(seq)
  await s1.close()

  const cap = captureLog()
  const s2 = await openSpool({ dir, gatewayId: 'gw', log: cap.log, tailRecords: 0 })
  t.equal(s2.report.check, 'none', 'a clean open knows nothing of the gaps')
  const expected = Array.from({ length: total }, (_, i) => i).filter((s) => !acked.has(s))
  t.equal(s2.stats().pending, expected.length, 'pending before reading')
  const readAll = async (limit: number) => {
    const got: number[] = []
    for (let at = -1; ;) {
      const batch = await s2.readAfter(at, limit)
      if (batch.length === 0) return got
      got.push(...batch.map((e) => e.seq))
      at = batch.at(-1)!.seq
    }
  }
  t.same(await readAll(700), expected, 'every record still stored, in order')
  t.notOk(s2.report.repaired, 'no damage was reported')
  const checks = cap.find('missing from the store without damage')
  t.ok(checks.length > 0, 'the gaps were checked the careful way')
  const counted = checks.reduce((n, l) => n + (l.count as number), 0)
  t.equal(counted, acked.size, 'each missing seq checked exactly once')
  t.equal(s2.stats().pending, expected.length, 'pending unchanged: gaps held no record')
  t.same(await readAll(333), expected, 'read again with another limit: the same')
  t.equal(cap.find('missing from the store without damage').length, checks.length, 'no second careful read of the same gaps')
  const bytesBefore = s2.stats().bytes ?? 0
  t.ok(bytesBefore > 0)
  for (const seq of expected) s2.ack(seq)
  t.equal(s2.stats().pending, 0, 'every record acked: nothing pending')
  t.ok((s2.stats().bytes ?? 0) < bytesBefore / 100, `bytes back to about zero (${s2.stats().bytes})`)
  t.same(await s2.readAfter(-1, 100), [], 'nothing left to read')
  await s2.close()
})

t.test('reads stop at the byte cap in chunks, and go on where they stopped', async (t) => {
  const dir = join(t.testdir(), 'spool')
  const spool = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, tailRecords: 0 })
  const big = 1024 * 1024
  for (let i = 0; i < 20; i++) await spool.append({ clientId: 'dev', topic: 't', payload: Buffer.alloc(big, i), qos: 1, retain: false })
  const first = await spool.readAfter(-1, 1000)
  t.ok(first.length >= 8 && first.length <= 9, `a read stops once its values pass 8 MiB (${first.length} records of 1 MiB)`)
  t.same(first.map((e) => e.seq), Array.from({ length: first.length }, (_, i) => i))
  const rest = await spool.readAfter(first.at(-1)!.seq, 1000)
  t.equal(rest[0]!.seq, first.length, 'the next read starts right after')
  const last = await spool.readAfter(rest.at(-1)!.seq, 1000)
  t.equal(first.length + rest.length + last.length, 20, 'all 20 read in three reads')
  t.ok(first.every((e, i) => e.payload.length === big && e.payload[0] === i), 'payloads intact')
  await spool.close()
})

t.test('a read from the head whose records were all unreadable does not skip the records after them', async (t) => {
  const dir = join(t.testdir(), 'spool')
  const s1 = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1 })
  for (let i = 0; i < 10; i++) await s1.append(ev(i))
  await s1.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const e = db.sublevel<string, Uint8Array>('e', { keyEncoding: 'utf8', valueEncoding: 'view' })
  // Garbled behind the spool's back after a clean close: found only when read.
  await e.put(seqKey(0), new Uint8Array([0xff, 0x00, 0x13]))
  await e.put(seqKey(1), new Uint8Array([0xff, 0x00, 0x14]))
  await db.close()
  const cap = captureLog()
  const s2 = await openSpool({ dir, gatewayId: 'gw', log: cap.log })
  t.same((await s2.readAfter(-1, 2)).map((r) => r.seq), [2, 3], 'both records of the first try were quarantined; the read went on')
  t.same((await s2.readAfter(-1, 100)).map((r) => r.seq), [2, 3, 4, 5, 6, 7, 8, 9], 'the rest is still there from the head')
  t.equal(cap.find('unreadable event record moved to quarantine').length, 2)
  t.equal(s2.stats().pending, 8)
  await s2.close()
})
