import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { mosquittoVersion } from './mosquitto.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function pkgVersion(name: string): string {
  try {
    const path = name === '.' ? `${ROOT}package.json` : `${ROOT}node_modules/${name}/package.json`
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export interface MachineInfo {
  cpu: string
  cores: number
  memoryGb: number
  node: string
  mosquitto: string
  packages: Record<string, string>
  loadAverage: string
}

export function machineInfo(): MachineInfo {
  let loadAverage = 'unknown'
  try { loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { /* not Linux */ }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: totalmem() / 2 ** 30,
    node: process.version,
    mosquitto: mosquittoVersion(),
    packages: Object.fromEntries(['.', 'aedes', 'mqtt', 'classic-level', 'cbor-x'].map((n) => [n === '.' ? 'outpost' : n, pkgVersion(n)])),
    loadAverage,
  }
}
