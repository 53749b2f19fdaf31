import t from 'tap'
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDeduplicator } from '../../src/consumer/deduplicator.js'
import { STATE_HEADER } from '../../src/consumer/state-file.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-dedup-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const ev = (id?: string): { id?: string; n: number } => (id === undefined ? { n: 0 } : { id, n: 0 })
const ids = (xs: Array<{ id?: string }>): Array<string | undefined> => xs.map((x) => x.id)

function codeOf(fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}` }
  return undefined
}

t.test('accept: first sightings and id-less events pass, in order; stats count', async (t) => {
  const d = openDeduplicator({ window: 64 })
  t.same(ids(d.accept([ev('gw-1-1'), ev('gw-1-2'), ev(), ev('gw-1-1'), ev('odd-id')])), ['gw-1-1', 'gw-1-2', undefined, 'odd-id'])
  t.same(ids(d.accept([ev('gw-1-2'), ev('gw-1-3'), ev('odd-id'), ev()])), ['gw-1-3', undefined])
  t.match(d.stats(), { seen: 7, emitted: 6, duplicates: 3, withoutId: 2, outOfWindow: 0, streams: 1, otherIds: 1 })
  t.equal(d.isNew('gw-1-3'), false)
  t.equal(d.isNew('gw-1-4'), true)
  t.equal(d.recovery, undefined)
  d.close()
})

t.test('out of window: emitted by default, dropped on request, counted either way', async (t) => {
  const emit = openDeduplicator({ window: 8 })
  emit.accept([ev('gw-1-100')])
  t.same(ids(emit.accept([ev('gw-1-3'), ev('gw-1-3')])), ['gw-1-3'], 'once per call still')
  t.equal(emit.stats().outOfWindow, 1)
  const drop = openDeduplicator({ window: 8, outOfWindow: 'drop' })
  drop.accept([ev('gw-1-100')])
  t.same(ids(drop.accept([ev('gw-1-3')])), [])
  t.match(drop.stats(), { outOfWindow: 1, emitted: 1 })
})

t.test('state survives a restart: nothing accepted before is accepted again', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  const a = openDeduplicator({ stateFile: file })
  t.equal(a.recovery?.created, true)
  a.accept([ev('gw-1-1'), ev('gw-1-2'), ev('other')])
  a.accept([ev('gw-2-7')])
  // A restart in the same process; the kill -9 case is in test/consumer/consume-cli.test.ts.
  a.close()
  const b = openDeduplicator({ stateFile: file })
  t.same(ids(b.accept([ev('gw-1-1'), ev('gw-1-2'), ev('other'), ev('gw-2-7'), ev('gw-1-3')])), ['gw-1-3'])
  t.match(b.recovery, { created: false, badLines: 0, tornBytes: 0 })
  b.close()
  t.notOk(existsSync(`${file}.lock`), 'close releases the lock')
})

t.test('a torn last line is cut off; damaged lines are skipped, reported and rewritten', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  writeFileSync(file, STATE_HEADER + '"gw-1-1"\n"gw-1-2"\n"gw-1-')
  const a = openDeduplicator({ stateFile: file })
  t.match(a.recovery, { tornBytes: 6, badLines: 0 })
  t.equal(readFileSync(file, 'utf8'), STATE_HEADER + '"gw-1-1"\n"gw-1-2"\n', 'the torn tail is gone')
  t.same(ids(a.accept([ev('gw-1-1'), ev('gw-1-3')])), ['gw-1-3'], 'appends go after the cut')
  a.close()
  appendFileSync(file, 'garbage\n\u0000\u0000\n42\n""\n"gw-1-9"\n')
  const b = openDeduplicator({ stateFile: file })
  t.match(b.recovery, { badLines: 4, tornBytes: 0 })
  t.same(ids(b.accept([ev('gw-1-1'), ev('gw-1-3'), ev('gw-1-9'), ev('gw-1-4')])), ['gw-1-4'], 'the good lines were kept')
  b.close()
  t.equal(readFileSync(file, 'utf8'), STATE_HEADER + ['gw-1-1', 'gw-1-2', 'gw-1-3', 'gw-1-9', 'gw-1-4'].map((x) => `"${x}"\n`).join(''), 'rewritten without the damage')
  const c = openDeduplicator({ stateFile: file })
  t.equal(c.recovery?.badLines, 0, 'reported once')
  c.close()
})

t.test('a file that is not a state file is refused and left alone', async (t) => {
  const file = join(tempDir(t), 'data.json')
  writeFileSync(file, '{"precious":true}\n')
  t.equal(codeOf(() => openDeduplicator({ stateFile: file })), ErrorCodes.CONSUMER_STATE)
  t.equal(readFileSync(file, 'utf8'), '{"precious":true}\n')
  t.notOk(existsSync(`${file}.lock`), 'no lock left behind')
  const empty = join(tempDir(t), 'empty.state')
  writeFileSync(empty, '')
  const d = openDeduplicator({ stateFile: empty })
  t.equal(d.recovery?.created, true, 'an empty file is a new one')
  d.close()
  t.equal(codeOf(() => openDeduplicator({ stateFile: join(tempDir(t), 'no', 'such', 'dir', 's') })), ErrorCodes.CONSUMER_STATE)
})

t.test('one state file, one consumer: a live owner is refused, a dead one taken over', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  const a = openDeduplicator({ stateFile: file })
  t.equal(codeOf(() => openDeduplicator({ stateFile: file })), ErrorCodes.CONSUMER_STATE, 'same process')
  a.close()
  // A live other process holds it.
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  t.teardown(() => { if (sleeper.exitCode === null) sleeper.kill('SIGKILL') })
  writeFileSync(`${file}.lock`, `${sleeper.pid}\n`)
  let message = ''
  try { openDeduplicator({ stateFile: file }) } catch (err) { message = (err as Error).message }
  t.match(message, new RegExp(`in use by process ${sleeper.pid}`))
  // It dies (kill -9 leaves the lock behind): taken over.
  const exited = new Promise((resolve) => sleeper.once('exit', resolve))
  sleeper.kill('SIGKILL')
  await exited
  const b = openDeduplicator({ stateFile: file })
  t.equal(b.recovery?.staleLock, true)
  b.close()
})

t.test('the file is compacted and stays bounded', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  const d = openDeduplicator({ stateFile: file, window: 64, fsync: false })
  for (let i = 0; i < 25_000; i++) d.accept([ev(`gw-1-${i}`)])
  const lines = readFileSync(file, 'utf8').split('\n').length - 2
  t.ok(lines <= 64 + 10_001, `${lines} lines after 25000 appends with a window of 64`)
  d.close()
  const e = openDeduplicator({ stateFile: file, window: 64 })
  t.same(ids(e.accept([ev('gw-1-24999'), ev('gw-1-24936'), ev('gw-1-25000')])), ['gw-1-25000'], 'the window came back from the compacted file')
  e.close()
})

t.test('a failed state write marks nothing, and the call can be retried', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  const d = openDeduplicator({ stateFile: file })
  d.accept([ev('gw-1-1')])
  d.close() // closing the file makes the next append fail
  t.equal(codeOf(() => d.accept([ev('gw-1-2')])), ErrorCodes.CONSUMER_STATE)
  t.equal(d.isNew('gw-1-2'), true, 'not marked')
  t.match(d.stats(), { emitted: 1, seen: 1 })
})

t.test('a failed rewrite costs nothing: warned, appends go on, a later rewrite works', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'seen.state')
  const warnings: string[] = []
  const d = openDeduplicator({ stateFile: file, window: 64, fsync: false, onWarning: (m) => warnings.push(m) })
  mkdirSync(`${file}.tmp`) // the rewrite's temp file cannot be created
  for (let i = 0; i < 10_100; i++) d.accept([ev(`gw-1-${i}`)])
  t.equal(warnings.length, 1, 'warned once')
  t.match(warnings[0], /cannot rewrite/)
  t.equal(readFileSync(file, 'utf8').split('\n').length - 2, 10_100, 'every id still appended')
  rmSync(`${file}.tmp`, { recursive: true })
  for (let i = 10_100; i < 20_200; i++) d.accept([ev(`gw-1-${i}`)])
  t.equal(warnings.length, 1)
  t.ok(readFileSync(file, 'utf8').split('\n').length - 2 < 10_100, 'rewritten later')
  t.same(ids(d.accept([ev('gw-1-20199'), ev('gw-1-20200')])), ['gw-1-20200'])
  d.close()
  const e = openDeduplicator({ stateFile: file, window: 64 })
  t.same(ids(e.accept([ev('gw-1-20200'), ev('gw-1-20150'), ev('gw-1-20201')])), ['gw-1-20201'], 'the file is whole after the rewrite and the appends that followed')
  e.close()
})

t.test('accept without sync: written at once (a dead process keeps it), fdatasync on sync()', async (t) => {
  const file = join(tempDir(t), 'seen.state')
  const d = openDeduplicator({ stateFile: file })
  t.same(ids(d.accept([ev('gw-1-1'), ev('gw-1-2')], { sync: false })), ['gw-1-1', 'gw-1-2'])
  t.equal(readFileSync(file, 'utf8'), STATE_HEADER + '"gw-1-1"\n"gw-1-2"\n', 'in the file before any sync')
  d.sync()
  d.sync() // nothing left to sync: a no-op
  d.accept([ev('gw-1-3')], { sync: false })
  d.close()
  t.equal(codeOf(() => d.sync()), ErrorCodes.CONSUMER_STATE, 'sync after close, with ids unsynced: an error, not silence')
  const e = openDeduplicator({ stateFile: file })
  t.same(ids(e.accept([ev('gw-1-1'), ev('gw-1-2'), ev('gw-1-3'), ev('gw-1-4')])), ['gw-1-4'])
  e.close()
  openDeduplicator().sync() // without a state file: nothing to do
})
