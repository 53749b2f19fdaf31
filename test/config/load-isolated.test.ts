import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/index.js'
import { loadConfigIsolated } from '../../src/config/load-isolated.js'
import { ErrorCodes } from '../../src/errors.js'

// `outpost start` loads its config in a child process (load-isolated.ts);
// these check it gives exactly what loadConfig gives in-process.

async function rejection(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('a valid file gives the same frozen config as loadConfig, environment overrides included', async (t) => {
  const file = join(t.testdir(), 'ok.yaml')
  writeFileSync(file, 'gateway:\n  id: gw-7\nforward:\n  include: ["a/#", "b/+"]\nupstream:\n  url: mqtt://127.0.0.1:1\n')
  const env = { OUTPOST_MQTT_PORT: '18999' }
  const isolated = await loadConfigIsolated({ file, env })
  t.strictSame(isolated, loadConfig({ file, env }))
  t.equal(isolated.broker.port, 18999, 'the override came from the env passed in')
  t.ok(Object.isFrozen(isolated) && Object.isFrozen(isolated.forward.include) && Object.isFrozen(isolated.upstream), 'frozen all the way down')
  const withoutEnv = await loadConfigIsolated({ file })
  t.not(withoutEnv.broker.port, 18999, 'no env given: no override, whatever this process has')
})

t.test('a wrong key or a missing file: the same ConfigError, code and issues, as in-process', async (t) => {
  const dir = t.testdir()
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, 'broker:\n  prot: 1883\nspool:\n  maxBatch: -1\n')
  const err = await rejection(loadConfigIsolated({ file: bad }))
  let direct: ConfigError | undefined
  try { loadConfig({ file: bad }) } catch (e) { direct = e as ConfigError }
  t.equal(err.code, ErrorCodes.CONFIG_INVALID)
  t.strictSame(err.issues, direct?.issues)
  t.equal(err.message, direct?.message)
  t.equal(err.issues.length, 2)

  const missing = await rejection(loadConfigIsolated({ file: join(dir, 'nope.yaml') }))
  t.equal(missing.code, ErrorCodes.CONFIG_READ)
  t.match(missing.issues[0]?.message, /no such file \(ENOENT\)/)
})

t.test('a loader that cannot run is a config read error that says why, not a hang', async (t) => {
  const file = join(t.testdir(), 'ok.yaml')
  writeFileSync(file, '')
  const err = await rejection(loadConfigIsolated({ file, env: { NODE_OPTIONS: '--no-such-node-flag' } }))
  t.equal(err.code, ErrorCodes.CONFIG_READ)
  t.equal(err.issues[0]?.source, file)
  t.match(err.issues[0]?.message, /the config loader failed: it ended \(exit code \d+\) without a result: .*no-such-node-flag/)
})
