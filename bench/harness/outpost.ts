import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { serverProcess, type ServerProcess } from './process.js'

/** The built gateway; `npm run bench` builds it first. */
export const OUTPOST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
const SCHEMA_JS = fileURLToPath(new URL('../../dist/config/schema.js', import.meta.url))

export interface OutpostProcess extends ServerProcess {
  port: number
  dir: string
}

export interface OutpostOptions {
  dir: string
  port: number
  cloudPort: number
  upstreamClientId: string
  /** YAML lines (indented for the `upstream` section) that switch the batched uplink on. */
  batchYaml?: string[]
  /** Write a V8 CPU profile of the gateway into this folder when it exits. */
  cpuProfDir?: string
  /** Another build's dist/cli/main.js (A/B runs of two trees); this tree's by default. */
  main?: string
}

/**
 * Outpost as its users run it: `node FLAGS dist/cli/main.js start --config FILE`
 * with the environment variables and node flags of `npm start`,
 * default spool settings (fsync before every PUBACK, group commit at the end of the event-loop turn),
 * default uplink window, MQTT 5 upstream. Reconnect: first retry after
 * 100 ms, then at most every second (see edgeMosquitto's restart_timeout).
 */
/**
 * Node flags for the gateway: BENCH_NODE_ARGS (space-separated) for
 * experiments; else the shipped ones (`npm start`), plus a CPU profile into
 * the folder when one is given (a sampling heap profile instead with
 * BENCH_HEAP_PROF).
 */
function gatewayNodeArgs(profDir: string | undefined): string[] {
  const extra = process.env.BENCH_NODE_ARGS
  if (extra) return extra.split(' ')
  const shipped = shippedLaunch().nodeFlags
  if (profDir === undefined) return shipped
  return [...shipped, ...(process.env.BENCH_HEAP_PROF ? ['--heap-prof', `--heap-prof-dir=${profDir}`] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`])]
}

const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url))

/**
 * How the gateway ships to start: the environment variables and node flags
 * of `npm start` in package.json (the Docker image and the `outpost` bin's
 * shebang carry the same; test/bench/harness.test.ts checks they agree).
 */
export function shippedLaunch(scripts?: Record<string, string>): { env: Record<string, string>; nodeFlags: string[] } {
  const start = (scripts ?? (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { scripts: Record<string, string> }).scripts)['start'] ?? ''
  const m = /^((?:[A-Z_][A-Z0-9_]*=\S+ )*)node((?: --\S+)*) dist\/cli\/main\.js start\b/.exec(start)
  if (m === null) throw new Error(`package.json's start script is not '[VAR=value ...] node [--flags] dist/cli/main.js start ...': ${start}`)
  const env: Record<string, string> = {}
  for (const pair of m[1]!.trim().split(' ').filter((p) => p !== '')) {
    const at = pair.indexOf('=')
    env[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return { env, nodeFlags: m[2]!.trim().split(' ').filter((f) => f !== '') }
}

export async function outpost(o: OutpostOptions): Promise<OutpostProcess> {
  await mkdir(o.dir, { recursive: true })
  const config = join(o.dir, 'outpost.yaml')
  await writeFile(config, outpostYaml(o).join('\n'))
  const nodeArgs = gatewayNodeArgs(o.cpuProfDir)
  const proc = serverProcess({
    command: process.execPath,
    args: [...nodeArgs, o.main ?? OUTPOST_MAIN, 'start', '--config', config],
    env: shippedLaunch().env,
    port: o.port,
    logFile: join(o.dir, 'outpost.log'),
  })
  return {
    port: o.port,
    dir: o.dir,
    get pid() { return proc.pid },
    get running() { return proc.running },
    start: () => proc.start(),
    stop: (graceMs) => proc.stop(graceMs),
    kill: () => proc.kill(),
  }
}

/** The config file of one Outpost instance (also printed in docs/benchmarks.md). */
export function outpostYaml(o: Pick<OutpostOptions, 'dir' | 'batchYaml' | 'upstreamClientId'> & { port: number | string; cloudPort: number | string }): string[] {
  return [
    'gateway:',
    '  id: gw',
    `  dataDir: ${join(o.dir, 'data')}`,
    'log:',
    '  level: info',
    // A status line every second: the latency scenario reads the gateway's own commit (fsync) times from it.
    '  statusIntervalMs: 1000',
    'broker:',
    '  host: 127.0.0.1',
    `  port: ${o.port}`,
    'upstream:',
    `  url: mqtt://127.0.0.1:${o.cloudPort}`,
    `  clientId: ${o.upstreamClientId}`,
    '  reconnect:',
    '    initialDelayMs: 100',
    '    maxDelayMs: 1000',
    ...(process.env.BENCH_WINDOW ? [`  window: ${process.env.BENCH_WINDOW}`] : []),
    ...(o.batchYaml ?? []),
    ...(process.env.BENCH_GROUP_COMMIT_MS ? ['spool:', `  groupCommitMs: ${process.env.BENCH_GROUP_COMMIT_MS}`] : []),
    '',
  ]
}

export interface BatchProbe {
  available: boolean
  /** YAML lines for the upstream section, when available. */
  yaml: string[]
  note: string
}

interface SchemaNode { properties?: Record<string, SchemaNode>; default?: unknown; type?: unknown; maximum?: number }

/**
 * Whether this build's config schema has `upstream.batch` (the batched uplink
 * of issue 4). Reads the built schema; the variant still has to start for
 * real before it is measured, so a wrong guess shows up as an error row,
 * never as a number.
 */
export async function probeBatch(): Promise<BatchProbe> {
  if (!existsSync(SCHEMA_JS)) return { available: false, yaml: [], note: 'dist/ not built' }
  const mod = await import(pathToFileURL(SCHEMA_JS).href) as { UpstreamObjectSchema?: SchemaNode }
  const batch = mod.UpstreamObjectSchema?.properties?.['batch']
  if (batch === undefined) return { available: false, yaml: [], note: 'not available in this build (the config schema has no upstream.batch)' }
  const props = batch.properties ?? {}
  const lines = ['  batch:']
  if ('enabled' in props) lines.push('    enabled: true')
  if ('maxEvents' in props) {
    const def = typeof props['maxEvents']!.default === 'number' ? props['maxEvents']!.default as number : 0
    lines.push(`    maxEvents: ${def > 0 ? def : 500}`)
  }
  if (lines.length === 1) return { available: false, yaml: [], note: `upstream.batch exists but has neither 'enabled' nor 'maxEvents' (keys: ${Object.keys(props).join(', ')})` }
  return { available: true, yaml: lines, note: `upstream.batch: { ${lines.slice(1).map((l) => l.trim()).join(', ')} }, other batch keys at their defaults` }
}
