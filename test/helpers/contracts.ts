import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const DEVICES = fileURLToPath(new URL('../../devices', import.meta.url))

/**
 * A copy of the shipped devices/ folder (or some of its folders) in the test's
 * own dir (`<testdir>/devices`). It calls t.testdir: put other files of the
 * test next to it, since a second t.testdir call empties the directory.
 */
export function copyDevices(t: Test, folders?: string[]): string {
  const dir = join(t.testdir({}), 'devices')
  if (folders === undefined) {
    cpSync(DEVICES, dir, { recursive: true })
  } else {
    for (const f of folders) cpSync(join(DEVICES, f), join(dir, f), { recursive: true })
  }
  return dir
}

/** Edit a text file in place. */
export function editFile(file: string, edit: (text: string) => string): void {
  writeFileSync(file, edit(readFileSync(file, 'utf8')))
}
