import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

t.test('a wrong key stops start-up with the documented message and exit code 78', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'broker:\n  prot: 1883\n')
  const r = spawnSync(process.execPath, [MAIN, 'start', '--config', file], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 78)
  t.match(r.stderr, `${file}: broker.prot: unknown key (did you mean "port"?)`)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace for a user mistake')
})

t.test('a bad environment override is reported with the variable name', async (t) => {
  const r = spawnSync(process.execPath, [MAIN, 'start', '--config', join(t.testdir(), 'missing.yaml')], { encoding: 'utf8', timeout: 20_000 })
  t.not(r.status, 0, 'a missing config file is an error too')
  const dir = t.testdir()
  const file = join(dir, 'ok.yaml')
  writeFileSync(file, '')
  const r2 = spawnSync(process.execPath, [MAIN, 'start', '--config', file], {
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, OUTPOST_MQTT_PORT: 'abc' },
  })
  t.equal(r2.status, 78)
  t.match(r2.stderr, /OUTPOST_MQTT_PORT/)
})

t.test('unknown command and --help', async (t) => {
  const r = spawnSync(process.execPath, [MAIN, 'frobnicate'], { encoding: 'utf8' })
  t.equal(r.status, 2)
  t.match(r.stderr, /unknown command "frobnicate"/)
  const h = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' })
  t.equal(h.status, 0)
  t.match(h.stdout, /start \[--config FILE\]/)
})
