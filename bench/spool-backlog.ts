/**
 * Big backlogs: a spool holding N events (default 1,000,000, 100-byte
 * payloads) and the real gateway process started on it. Measures, per case,
 * the time from spawning the process to "accepting device connections" and
 * the process's resident memory once started (VmRSS, split into anonymous and
 * file-backed pages from /proc/<pid>/status). Writes docs/bench-spool.md.
 *
 *   npm run build && npx tsx bench/spool-backlog.ts [--events 1000000] [--rounds 3]
 *
 * Cases: an empty data directory (idle), the backlog after a clean shutdown,
 * and the backlog after kill -9 of a gateway that had it open. No upstream is
 * configured, so the uplink does not start reading the backlog.
 */
import { spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { openSpool } from '../src/spool/spool.js'
import { freePort } from '../test/helpers/free-port.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '100' },
    out: { type: 'string', default: 'docs/bench-spool.md' },
    /** Keep the built store here between runs (built if missing). */
    keep: { type: 'string' },
    settleMs: { type: 'string', default: '1000' },
  },
})
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const CLIENTS = Number(values.clients)
const SETTLE_MS = Number(values.settleMs)
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))

interface Sample { startMs: number; openMs: number; rssMb: number; anonMb: number; fileMb: number; openLog: Record<string, unknown> | undefined }

async function buildStore(dataDir: string): Promise<number> {
  const t0 = performance.now()
  const spool = await openSpool({ dir: join(dataDir, 'spool'), gatewayId: 'bench', log: pino({ level: 'warn' }), maxBatch: 8192, groupCommitMs: 5 })
  const payload = Buffer.alloc(100, 0x61)
  const CHUNK = 8192
  let messageId = 0
  for (let done = 0; done < EVENTS; done += CHUNK) {
    const n = Math.min(CHUNK, EVENTS - done)
    const batch: Array<Promise<unknown>> = []
    for (let i = 0; i < n; i++) {
      const c = (done + i) % CLIENTS
      messageId = (messageId % 65535) + 1
      // Vary the payload a little so compression does not flatter the store.
      payload.writeUInt32BE(done + i, 0)
      batch.push(spool.append({ clientId: `dev-${c}`, topic: `sensors/dev-${c}/reading`, payload: Buffer.from(payload), qos: 1, retain: false },
        { messageId, retransmit: false }))
    }
    await Promise.all(batch)
  }
  await spool.close()
  return (performance.now() - t0) / 1000
}

async function writeConfig(dir: string, dataDir: string): Promise<string> {
  const port = await freePort()
  const file = join(dir, `outpost-${port}.yaml`)
  await writeFile(file, [
    'gateway:', '  id: bench', `  dataDir: ${dataDir}`,
    'log:', '  level: info',
    'broker:', '  host: 127.0.0.1', `  port: ${port}`,
    'upstream: null', '',
  ].join('\n'))
  return file
}

function kb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return m ? Number(m[1]) / 1024 : Number.NaN
}

/** Start the gateway, time it to "accepting device connections", read its RSS, then stop or kill it. */
async function runGateway(configFile: string, end: 'term' | 'kill'): Promise<Sample> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [MAIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let openLog: Record<string, unknown> | undefined
  let configAt = Number.NaN
  let acceptingAt = Number.NaN
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const startMs = await new Promise<number>((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let rec: Record<string, unknown>
        try { rec = JSON.parse(line) as Record<string, unknown> } catch { continue }
        if (typeof rec.msg === 'string' && rec.msg.startsWith('spool ')) {
          // The report without this machine's details (paths, pid, host, time).
          const { dir: _dir, pid: _pid, hostname: _host, time: _time, ...report } = rec
          openLog ??= report
        }
        if (rec.msg === 'configuration loaded') configAt = Number(rec.time)
        if (rec.msg === 'accepting device connections') {
          acceptingAt = Number(rec.time)
          resolve(performance.now() - t0)
        }
      }
    })
    void exited.then((code) => reject(new Error(`gateway exited with ${code} before accepting connections: ${stderr}`)))
  })
  await new Promise((r) => setTimeout(r, SETTLE_MS))
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
  const sample: Sample = { startMs, openMs: acceptingAt - configAt, rssMb: kb(status, 'VmRSS'), anonMb: kb(status, 'RssAnon'), fileMb: kb(status, 'RssFile'), openLog }
  process.kill(child.pid!, end === 'kill' ? 'SIGKILL' : 'SIGTERM')
  await exited
  return sample
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const work = await mkdtemp(join(tmpdir(), 'outpost-backlog-'))
try {
  const emptyData = join(work, 'empty')
  await mkdir(emptyData)
  const master = values.keep ?? join(work, 'master')
  let buildSec: number | null = null
  const existing = await readFile(join(master, 'spool', 'CURRENT'), 'utf8').catch(() => null)
  if (existing === null) {
    console.log(`building a store of ${EVENTS} events...`)
    buildSec = await buildStore(master)
    console.log(`built in ${buildSec.toFixed(1)} s`)
  }
  const cases: Record<string, Sample[]> = { idle: [], clean: [], 'after kill -9': [] }
  for (let r = 0; r < ROUNDS; r++) {
    cases.idle!.push(await runGateway(await writeConfig(work, emptyData), 'term'))
    const data = join(work, `round-${r}`)
    await cp(master, data, { recursive: true })
    const cfg = await writeConfig(work, data)
    cases.clean!.push(await runGateway(cfg, 'kill'))
    // The first run was killed: this start is the unclean one. Then stop it cleanly.
    cases['after kill -9']!.push(await runGateway(cfg, 'term'))
    await rm(data, { recursive: true, force: true })
    console.log(`round ${r + 1}/${ROUNDS}:`, Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, `${v.at(-1)!.startMs.toFixed(0)} ms (gateway ${v.at(-1)!.openMs.toFixed(0)} ms), ${v.at(-1)!.rssMb.toFixed(1)} MB`])))
  }
  const idleRss = median(cases.idle!.map((s) => s.rssMb))
  const rows = Object.entries(cases).map(([name, s]) => {
    const rss = median(s.map((x) => x.rssMb))
    return `| ${name} | ${median(s.map((x) => x.startMs)).toFixed(0)} | ${median(s.map((x) => x.openMs)).toFixed(0)} | ${rss.toFixed(1)} | ${median(s.map((x) => x.anonMb)).toFixed(1)} | ${median(s.map((x) => x.fileMb)).toFixed(1)} | ${name === 'idle' ? '' : (rss - idleRss).toFixed(1)} |`
  })
  const sampleLog = cases['after kill -9']![0]?.openLog
  const md = [
    '# Spool backlog benchmark',
    '',
    `Written by \`bench/spool-backlog.ts\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${cpus()[0]?.model ?? ''}).`,
    '',
    '```',
    `npm run build && npx tsx bench/spool-backlog.ts --events ${EVENTS} --rounds ${ROUNDS}`,
    '```',
    '',
    `A spool of ${EVENTS.toLocaleString('en')} events (100-byte payloads, ${CLIENTS} devices) is built once${buildSec === null ? '' : ` (${buildSec.toFixed(1)} s)`};`,
    'then, per round, the gateway process (`node dist/cli/main.js start`, no upstream) starts on a copy of it.',
    '"start" is the time from spawning the process to its "accepting device connections" log line, "of which',
    'gateway" the part after the configuration was loaded (spool, session store, broker; Node\'s own start-up',
    'and module loading excluded), from the log lines\' timestamps; RSS is',
    `read from /proc ${SETTLE_MS} ms later. Medians of ${ROUNDS} rounds. Targets: start <= 2000 ms, RSS <= 64 MB idle and <= idle + 32 MB with the backlog.`,
    '',
    '| case | start (ms) | of which gateway (ms) | RSS (MB) | anonymous (MB) | file-backed (MB) | over idle (MB) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'File-backed pages are mostly the node executable itself (about 42 MB, also when idle) plus LevelDB',
    'table files the process mapped and touched; the kernel can drop them under memory pressure,',
    'anonymous memory it cannot. The idle process is over 64 MB only through those executable pages.',
    '',
    'What open reads (docs/architecture.md, "Open time with a big backlog"):',
    '',
    '- clean: the counters in the metadata and the first and last key; LevelDB has no log to replay',
    '  (a clean close flushes it); dedup windows are loaded per device on its first publish. Open time',
    '  and memory do not grow with the backlog.',
    '- after kill -9: the same, plus a decode of the newest records back to 8 MiB of values (what',
    '  LevelDB\'s write-ahead log and memtables can have held), here about 52,000 records. Most of the',
    '  extra anonymous memory is the V8 heap grown by that burst of short-lived objects.',
    '- "start" includes Node\'s own start-up (the idle row); on this shared 2-core machine it varies by',
    '  seconds between runs, so compare the rows of one run.',
    '',
    'The spool\'s open report after kill -9 (first round):',
    '',
    '```json',
    JSON.stringify(sampleLog ?? null),
    '```',
    '',
  ].join('\n')
  await writeFile(values.out, md)
  console.log(md)
} finally {
  await rm(work, { recursive: true, force: true })
}
