// The spool on a real full disk: a small tmpfs this test mounts (as root) and unmounts.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openSpool } from '../../src/spool/spool.js'
import type { EventInput } from '../../src/spool/types.js'
import { captureLog } from '../helpers/log.js'

function tryMount(dir: string): string | null {
  if (process.platform !== 'linux') return 'needs Linux tmpfs'
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs'
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'pipe' })
    return null
  } catch (err) {
    return `mount not permitted here: ${(err as Error).message.split('\n')[0]}`
  }
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

const ev = (n: number): EventInput => {
  // Payloads that do not compress, so the disk fills at a known pace.
  const payload = Buffer.alloc(1000)
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(((n + 1) * 2654435761 + i * 40503) >>> 0, i)
  return { clientId: 'dev', topic: 'sensors/x', payload, qos: 1, retain: false }
}

t.test('disk full: appends refused, reads and acks go on, appends accepted once space is back, nothing acknowledged is lost', async (t) => {
  // Not a tap testdir: tap would try to remove it before the teardown unmounts it.
  const mnt = mkdtempSync(join(tmpdir(), 'outpost-disk-full-'))
  const skip = tryMount(mnt)
  if (skip !== null) {
    rmSync(mnt, { recursive: true, force: true })
    t.plan(0, skip) // reported as skipped, with the reason
    return
  }
  t.teardown(() => {
    execFileSync('umount', [mnt])
    rmSync(mnt, { recursive: true, force: true })
  })
  const filler = join(mnt, 'filler')
  writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024, 1))
  const dir = join(mnt, 'spool')
  mkdirSync(dir)
  const cap = captureLog()
  const spool = await openSpool({ dir, gatewayId: 'gw', log: cap.log, groupCommitMs: 1, checkIntervalMs: 100, limits: { minFreeBytes: 0 } })

  // Fill the disk: stop at the first refused append.
  const stored = new Map<number, string>()
  let refusal: unknown = null
  for (let n = 0; refusal === null && n < 100_000; n++) {
    const batch = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => spool.append(ev(n * 20 + i))))
    for (const r of batch) {
      if (r.status === 'fulfilled') stored.set(r.value.seq, r.value.id)
      else refusal ??= r.reason
    }
  }
  t.match(refusal, { code: 'OUTPOST_SPOOL_UNAVAILABLE' }, 'the failed write is a typed error')
  t.ok(stored.size > 100, `${stored.size} events stored before the disk filled`)
  t.equal(spool.stats().intake, 'unavailable')
  await t.rejects(spool.append(ev(-1)), { code: 'OUTPOST_SPOOL_UNAVAILABLE' }, 'later appends are refused at once')
  t.equal(cap.find('spool write failed').length, 1, 'logged once')

  // The backlog can still be read and acknowledged while the disk is full.
  const head = await spool.readAfter(-1, 50)
  t.equal(head.length, 50, 'reads work')
  t.same(head.map((e) => e.id), [...stored.values()].slice(0, 50), 'in order, the acknowledged events')
  for (const e of head) spool.ack(e.seq)
  const acked = new Set(head.map((e) => e.seq))
  t.equal(spool.stats().pending, stored.size - 50)

  // Space comes back: the spool reopens by itself at a disk check and takes events again.
  let told = false
  spool.onWritable(() => { told = true })
  rmSync(filler)
  await until(() => told && spool.stats().intake === 'ok', 'the spool to reopen')
  t.ok(cap.find('spool reopened after a failed write').length === 1, 'the reopen is logged')
  const after = await spool.append(ev(999_999))
  stored.set(after.seq, after.id)
  t.ok(after.seq > Math.max(...stored.keys()) - 1, 'sequence numbers go on')
  const more = await spool.readAfter(-1, 10)
  t.equal(more[0]!.seq, head.at(-1)!.seq + 1, 'reading goes on after the acknowledged ones')
  await spool.close()

  // Reopen: every acknowledged-to-device event not acked upstream is there and readable.
  const again = await openSpool({ dir, gatewayId: 'gw', log: captureLog().log, limits: { minFreeBytes: 0 } })
  t.ok(again.report.cleanShutdown)
  const all = []
  for (let cursor = -1; ;) {
    const batch = await again.readAfter(cursor, 1000)
    if (batch.length === 0) break
    all.push(...batch)
    cursor = batch.at(-1)!.seq
  }
  const expected = [...stored.entries()].filter(([seq]) => !acked.has(seq))
  t.same(all.map((e) => [e.seq, e.id]), expected, 'exactly the stored events minus the acked ones, in order')
  t.ok(all.every((e) => e.payload.length === 1000), 'readable')
  await again.close()
})

t.test('open on a full disk waits for space instead of failing the start', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'outpost-disk-full-'))
  const skip = tryMount(mnt)
  if (skip !== null) {
    rmSync(mnt, { recursive: true, force: true })
    t.plan(0, skip)
    return
  }
  t.teardown(() => {
    execFileSync('umount', [mnt])
    rmSync(mnt, { recursive: true, force: true })
  })
  // A store whose events are only in LevelDB's write-ahead log, as after kill -9: opening it writes a table.
  const base = t.testdir()
  const live = await openSpool({ dir: join(base, 'spool'), gatewayId: 'gw', log: captureLog().log, groupCommitMs: 1 })
  for (let i = 0; i < 2000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => live.append(ev(i + j))))
  cpSync(join(base, 'spool'), join(mnt, 'spool'), { recursive: true })
  await live.close()
  rmSync(join(mnt, 'spool', 'LOCK'), { force: true })
  // Leave 32 KiB free.
  const s = statfsSync(mnt)
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(Number(s.bavail) * Number(s.bsize) - 32 * 1024, 1))

  const cap = captureLog()
  let opened = false
  const opening = openSpool({ dir: join(mnt, 'spool'), gatewayId: 'gw', log: cap.log, checkIntervalMs: 100, limits: { minFreeBytes: 0 } })
    .then((spool) => { opened = true; return spool })
  await until(() => cap.find('the disk is full. Waiting for free space').length > 0, 'the wait to be logged')
  t.notOk(opened, 'not opened while the disk is full')
  t.equal(cap.find('the disk is full').length, 1, 'logged once, not at every retry')
  rmSync(join(mnt, 'filler'))
  const spool = await opening
  t.notOk(spool.report.cleanShutdown)
  const read = await spool.readAfter(-1, 5000)
  t.equal(read.length, 2000, 'every event there once space came back')
  await spool.close()
})
