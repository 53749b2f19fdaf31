// Damaged stores: every case opens, reports what was lost, and sets the damaged files aside.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import t from 'tap'
import { lostRanges } from '../../src/spool/damage-report.js'
import { openSpool } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

const ev = (n: number): EventInput => {
  const payload = Buffer.alloc(200)
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(((n + 1) * 2654435761 + i * 40503) >>> 0, i)
  return { clientId: 'dev', topic: 'sensors/x', payload, qos: 1, retain: false }
}

/** A spool with N events in table files (enough to make LevelDB flush its log), the first `acked` acknowledged. */
async function build(dir: string, n: number, acked: number): Promise<void> {
  const spool = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1, maxBatch: 4096 })
  for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => spool.append(ev(i + j))))
  for (const e of await spool.readAfter(-1, acked)) spool.ack(e.seq)
  await spool.close()
}

async function reopen(dir: string) {
  const cap = captureLog()
  const spool = await openSpool({ dir, gatewayId: 'gw', log: cap.log })
  const all: number[] = []
  for (let cursor = -1; ;) {
    const batch = await spool.readAfter(cursor, 5000)
    if (batch.length === 0) break
    all.push(...batch.map((e) => e.seq))
    cursor = batch.at(-1)!.seq
  }
  return { spool, cap, all }
}

const asideDirs = (dir: string) => readdirSync(dirname(dir)).filter((n) => n.startsWith(`${basename(dir)}.damaged-`))
const files = (dir: string, ext: string) => readdirSync(dir).filter((n) => n.endsWith(ext)).sort()

t.test('lost ranges: from the head to nextSeq, minus what was found', async (t) => {
  t.same(lostRanges(10, 20, { firstSeq: 12, lastSeq: 17, gaps: [{ from: 14, to: 15 }] }), [{ from: 10, to: 11 }, { from: 14, to: 15 }, { from: 18, to: 19 }])
  t.same(lostRanges(10, 20, { firstSeq: null, lastSeq: null, gaps: [] }), [{ from: 10, to: 19 }])
  t.same(lostRanges(10, 20, { firstSeq: 10, lastSeq: 19, gaps: [] }), [])
  t.same(lostRanges(10, 20, { firstSeq: null, lastSeq: null, gaps: [] }, (seq) => seq === 12 || seq === 19), [{ from: 10, to: 11 }, { from: 13, to: 18 }],
    'acknowledged or quarantined sequence numbers are not lost')
})

t.test('a truncated table file: repaired, lost events counted with their ranges, files set aside', async (t) => {
  const dir = join(t.testdir(), 'spool')
  await build(dir, 30_000, 100)
  const tables = files(dir, '.ldb')
  t.ok(tables.length >= 1, 'events are in table files')
  const victim = join(dir, tables[0]!)
  const original = readFileSync(victim)
  truncateSync(victim, Math.floor(statSync(victim).size / 2))
  const { spool, cap, all } = await reopen(dir)
  const r = spool.report
  t.ok(r.repaired, 'repaired')
  t.equal(r.check, 'full', 'every record checked after a repair')
  t.ok(r.lost > 0, `${r.lost} events reported lost`)
  t.equal(r.lost + all.length, 30_000 - 100, 'lost + readable = what was pending')
  const inRanges = r.lostRanges.reduce((n, x) => n + x.to - x.from + 1, 0)
  t.equal(inRanges, r.lost, 'the ranges add up to the count')
  t.ok(r.lostRanges.every((x) => x.from >= 100 && x.to < 30_000), 'ranges lie between the acknowledged head and nextSeq')
  const readable = new Set(all)
  t.ok(r.lostRanges.every((x) => !readable.has(x.from) && !readable.has(x.to)), 'nothing reported lost is readable')
  t.ok(r.setAside !== null && existsSync(r.setAside), 'the damaged files were set aside')
  t.same(readFileSync(join(r.setAside!, tables[0]!)).length, Math.floor(original.length / 2), 'the set-aside copy is the damaged file as found')
  t.equal(cap.find('spool was damaged and repaired').length, 1)
  t.match(cap.find('spool was damaged and repaired')[0], { code: 'OUTPOST_SPOOL_DAMAGED', lost: r.lost })
  const next = await spool.append(ev(1))
  t.ok(next.seq >= 30_000, 'sequence numbers are not reused')
  await spool.close()
})

t.test('bytes overwritten in the middle of a table file: reopened and readable up to the damage', async (t) => {
  const dir = join(t.testdir(), 'spool')
  await build(dir, 30_000, 0)
  const victim = join(dir, files(dir, '.ldb')[0]!)
  const buf = readFileSync(victim)
  buf.fill(0x5a, Math.floor(buf.length / 2), Math.floor(buf.length / 2) + 4096)
  writeFileSync(victim, buf)
  // Same size: the directory listing cannot tell; the damage shows when records are read.
  const { spool, all, cap } = await reopen(dir)
  t.equal(spool.report.check, 'none', 'nothing looked wrong at open: a clean open reads no record')
  t.ok(all.length > 0, 'records before the damage are readable')
  t.ok(spool.report.repaired, 'the read found the damage and the spool repaired itself while running')
  t.ok(spool.report.lost + spool.report.unreadable > 0, `${spool.report.lost} lost, ${spool.report.unreadable} quarantined`)
  t.equal(all.length + spool.report.lost + spool.report.unreadable, 30_000, 'every event readable, lost or quarantined')
  t.ok(spool.report.setAside !== null && existsSync(spool.report.setAside), 'the damaged files were set aside')
  t.match(cap.find('spool repaired while running')[0], { code: 'OUTPOST_SPOOL_DAMAGED', lost: spool.report.lost })
  const next = await spool.append(ev(1))
  t.ok(next.seq >= 30_000, 'appends go on, sequence numbers not reused')
  await spool.close()
})

t.test('CURRENT deleted: not opened as a new empty store but repaired from the table files', async (t) => {
  const dir = join(t.testdir(), 'spool')
  await build(dir, 20_000, 0)
  rmSync(join(dir, 'CURRENT'))
  const { spool, all } = await reopen(dir)
  t.ok(spool.report.repaired)
  t.equal(all.length + spool.report.lost, 20_000, 'every event readable or reported lost')
  t.ok(all.length > 0, 'the table files were recovered')
  t.ok(spool.report.setAside !== null && existsSync(spool.report.setAside))
  t.equal(asideDirs(dir).length, 1)
  t.ok(spool.epoch >= 2)
  await spool.close()
})

t.test('MANIFEST deleted: repaired', async (t) => {
  const dir = join(t.testdir(), 'spool')
  await build(dir, 20_000, 0)
  for (const m of readdirSync(dir).filter((n) => n.startsWith('MANIFEST-'))) rmSync(join(dir, m))
  const { spool, all } = await reopen(dir)
  t.ok(spool.report.repaired)
  t.equal(all.length + spool.report.lost, 20_000)
  t.ok(all.length > 0)
  t.ok(existsSync(spool.report.setAside!))
  await spool.close()
})

t.test('a truncated write-ahead log after a crash: opens, the tail check reports what is missing', async (t) => {
  const base = t.testdir()
  const dir = join(base, 'spool')
  const spool = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1 })
  for (let i = 0; i < 200; i++) await spool.append(ev(i))
  // No close: like kill -9, the events are only in the log. Copy the files as they are on disk.
  const crashed = join(base, 'crashed')
  const { cpSync } = await import('node:fs')
  cpSync(dir, crashed, { recursive: true })
  await spool.close()
  rmSync(join(crashed, 'LOCK'), { force: true })
  const log = files(crashed, '.log').at(-1)!
  truncateSync(join(crashed, log), Math.floor(statSync(join(crashed, log)).size * 0.75))
  const { spool: again, all } = await reopen(crashed)
  t.notOk(again.report.cleanShutdown)
  t.ok(all.length < 200 && all.length > 0, `${all.length} of 200 events survived the cut log`)
  t.same(all, Array.from({ length: all.length }, (_, i) => i), 'a prefix survives, in order')
  await again.close()
})

t.test('a store that cannot be repaired: moved aside whole, started empty, ids never repeat', async (t) => {
  const dir = join(t.testdir(), 'spool')
  await build(dir, 100, 0)
  // Garbage where every LevelDB file was: nothing to repair from.
  for (const name of readdirSync(dir)) {
    if (name === 'LOCK' || name === 'LOG' || name === 'LOG.old') continue
    writeFileSync(join(dir, name), Buffer.alloc(64, 0xee))
  }
  const cap = captureLog()
  const spool = await openSpool({ dir, gatewayId: 'gw', log: cap.log })
  t.equal(spool.report.records, 0)
  t.ok(spool.report.setAside !== null && existsSync(spool.report.setAside!))
  t.ok(spool.epoch > 1_000_000_000, 'the epoch comes from the clock, so no id of the lost store is reused')
  const r = await spool.append(ev(1))
  t.equal(r.id, `gw-${spool.epoch}-0`)
  t.ok(cap.lines.some((l) => l.code === 'OUTPOST_SPOOL_DAMAGED' && l.level >= 50), 'a loud error')
  await spool.close()
})
