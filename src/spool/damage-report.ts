import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Damaged stores: set the files aside before LevelDB's repair rewrites them,
 * notice table files changed behind the spool's back, and work out which
 * sequence ranges were lost. Repair itself is LevelDB's (open-db.ts).
 */

/** Written next to the LevelDB files at a clean close: every table file and its size. */
const FILE_LIST = 'OUTPOST-FILES.json'

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-')
}

async function freeName(base: string): Promise<string> {
  for (let i = 0; ; i++) {
    const name = i === 0 ? base : `${base}-${i}`
    if (await stat(name).then(() => false, () => true)) return name
  }
}

/**
 * Keep a copy of a damaged store in `<dir>.damaged-<time>/` before repair.
 * Hard links: LevelDB never rewrites a file in place (repair writes new files
 * and renames old ones away), so links keep the damaged bytes at no cost in
 * space; a copy where links are not possible.
 */
export async function setAside(dir: string): Promise<string> {
  const dest = await freeName(`${dir}.damaged-${stamp()}`)
  await mkdir(dest, { recursive: true })
  for (const name of await readdir(dir)) {
    if (name === 'LOCK') continue
    const from = join(dir, name)
    if (!(await stat(from)).isFile()) continue
    await link(from, join(dest, name)).catch(() => copyFile(from, join(dest, name)))
  }
  return dest
}

/** Move a store that could not be repaired out of the way; the caller starts an empty one. */
export async function moveAside(dir: string): Promise<string> {
  const dest = await freeName(`${dir}.damaged-${stamp()}`)
  await rename(dir, dest)
  return dest
}

/** Record the table files at a clean close (the database must be closed). */
export async function recordFiles(dir: string): Promise<void> {
  const files: Record<string, number> = {}
  for (const name of await readdir(dir)) {
    if (name.endsWith('.ldb') || name.endsWith('.sst')) files[name] = (await stat(join(dir, name))).size
  }
  await writeFile(join(dir, FILE_LIST), JSON.stringify({ files }))
}

/**
 * Before open: what is wrong with the files, as far as a directory listing
 * tells (no file is read). LevelDB would otherwise open a store without CURRENT
 * as a new empty database, and find a truncated table only when a read reaches
 * it. Returns the problems found, empty if none. The list is consumed: a crash
 * later leaves no stale list behind.
 */
export async function checkFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  const problems: string[] = []
  const leveldbFiles = names.filter((n) => /\.(ldb|sst|log)$/.test(n) || n.startsWith('MANIFEST-'))
  if (leveldbFiles.length > 0 && !names.includes('CURRENT')) problems.push('CURRENT is missing')
  if (names.includes('CURRENT')) {
    const current = (await readFile(join(dir, 'CURRENT'), 'utf8').catch(() => '')).trim()
    if (!/^MANIFEST-\d+$/.test(current)) problems.push('CURRENT is unreadable')
    else if (!names.includes(current)) problems.push(`${current} is missing`)
  }
  const listed = await readFile(join(dir, FILE_LIST), 'utf8').then((s) => JSON.parse(s) as { files: Record<string, number> }).catch(() => null)
  if (listed !== null) {
    await rm(join(dir, FILE_LIST), { force: true })
    for (const [name, size] of Object.entries(listed.files ?? {})) {
      const now = await stat(join(dir, name)).then((s) => s.size, () => null)
      if (now === null) problems.push(`${name} is missing`)
      else if (now !== size) problems.push(`${name} is ${now} bytes, was ${size} at the last clean close`)
    }
  }
  return problems
}

/**
 * Sequence ranges that should exist but were not found: everything from the
 * acknowledged head to nextSeq - 1, minus what the scan found. Events
 * acknowledged out of order just before the damage also show here.
 */
export function lostRanges(head: number, nextSeq: number, found: { firstSeq: number | null; lastSeq: number | null; gaps: Array<{ from: number; to: number }> },
  notLost?: (seq: number) => boolean): Array<{ from: number; to: number }> {
  if (nextSeq <= head) return []
  const missing: Array<{ from: number; to: number }> = []
  if (found.firstSeq === null || found.lastSeq === null) {
    missing.push({ from: head, to: nextSeq - 1 })
  } else {
    if (found.firstSeq > head) missing.push({ from: head, to: found.firstSeq - 1 })
    for (const g of found.gaps) if (g.to >= head) missing.push({ from: Math.max(g.from, head), to: g.to })
    if (found.lastSeq < nextSeq - 1) missing.push({ from: found.lastSeq + 1, to: nextSeq - 1 })
  }
  if (notLost === undefined) return missing
  // Split the ranges around sequence numbers that are accounted for (acknowledged, quarantined).
  const out: Array<{ from: number; to: number }> = []
  for (const r of missing) {
    let from: number | null = null
    for (let seq = r.from; seq <= r.to; seq++) {
      const gone = !notLost(seq)
      if (gone && from === null) from = seq
      if (!gone && from !== null) {
        out.push({ from, to: seq - 1 })
        from = null
      }
    }
    if (from !== null) out.push({ from, to: r.to })
  }
  return out
}

/** Sequence numbers of quarantined (unreadable) keys, which are set aside, not lost. */
export function seqSet(keys: string[]): Set<number> {
  const out = new Set<number>()
  for (const k of keys) {
    const n = Number.parseInt(k, 16)
    if (k.length === 16 && Number.isSafeInteger(n)) out.add(n)
  }
  return out
}
