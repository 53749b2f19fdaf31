// A broken contract stops loading with a message naming the file, the JSON
// pointer and the line; every problem is listed, not just the first.
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ContractError } from '../../src/contracts/contract-error.js'
import { loadContracts } from '../../src/contracts/loader.js'
import { ErrorCodes } from '../../src/errors.js'
import { copyDevices, editFile } from '../helpers/contracts.js'

function loadError(dir: string): ContractError {
  try {
    loadContracts(dir, { cwd: dir })
  } catch (err) {
    if (err instanceof ContractError) return err
    throw err
  }
  throw new Error('expected a ContractError')
}

t.test('the shipped contracts load', async (t) => {
  const dir = copyDevices(t)
  const contracts = loadContracts(dir)
  t.strictSame(contracts.map((c) => c.folder), ['door-lock-v1', 'energy-meter-v1', 'env-sensor-v1'])
  const lock = contracts[0]!
  t.strictSame(lock.channels.map((c) => [c.id, c.devicePublishes]), [['events', true], ['commands', false], ['commandReplies', true]],
    'send operations and the reply of a receive operation are what the device publishes')
  t.equal(lock.channels[1]!.replyChannel, 'commandReplies')
  t.equal(contracts[1]!.channels[0]!.messages[0]!.contentType, 'application/cbor')
})

t.test('an AsyncAPI schema violation names file, pointer and line', async (t) => {
  const dir = copyDevices(t, ['env-sensor-v1'])
  // line 12 of the document: the telemetry channel's address
  editFile(join(dir, 'env-sensor-v1/asyncapi.yaml'), (s) => s.replace('    address: env/{sensorId}/telemetry', '    address: 17\n    adress: env/{sensorId}/telemetry'))
  const err = loadError(dir)
  t.equal(err.code, ErrorCodes.CONTRACT_INVALID)
  const texts = err.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.pointer} ${i.message}`)
  t.match(texts.join('\n'), /env-sensor-v1\/asyncapi\.yaml:12:14 \/channels\/telemetry\/address AsyncAPI 3\.0\.0 schema: must be string,null/)
  t.match(texts.join('\n'), /\/channels\/telemetry\/adress AsyncAPI 3\.0\.0 schema: unknown property "adress"/)
  t.match(err.message, /^invalid device contracts \(2 problems\):\n {2}env-sensor-v1\/asyncapi\.yaml:12:14 \(at \/channels\/telemetry\/address\): /)
})

t.test('a misspelt JSON Schema keyword in a payload is refused (strict compile)', async (t) => {
  const dir = copyDevices(t, ['env-sensor-v1'])
  editFile(join(dir, 'env-sensor-v1/asyncapi.yaml'), (s) => s.replace('          minimum: -40', '          minimun: -40'))
  const err = loadError(dir)
  t.equal(err.issues.length, 1)
  t.equal(err.issues[0]!.pointer, '/components/messages/reading/payload')
  t.match(err.issues[0]!.message, /strict mode: unknown keyword: "minimun"/)
  t.ok(err.issues[0]!.line! > 0, 'with a line number')
})

t.test('gateway rules beyond the schema', async (t) => {
  const dir = copyDevices(t, ['door-lock-v1', 'energy-meter-v1'])
  editFile(join(dir, 'door-lock-v1/asyncapi.yaml'), (s) => s
    .replace('    address: lock/{lockId}/events', '    address: lock/{lockId}/{kind}/events')
    .replace("        $ref: '#/components/messages/command'", "        $ref: '#/components/messages/comand'")
    .replace('      location: $message.payload#/requestId', '      location: $message.header#/requestId'))
  editFile(join(dir, 'energy-meter-v1/profile.yaml'), (s) => s.replace('deviceType: energy-meter', 'deviceType: power-meter')
    .replace('  alarm: fleet/{gatewayId}/energy-meter/v1/{meterId}/alarm', '  alarm: fleet/{site}/{meterId}/alarm'))
  const err = loadError(dir)
  const messages = err.issues.map((i) => `${i.file} ${i.pointer ?? ''} ${i.message}`)
  for (const re of [
    /door-lock-v1\/asyncapi\.yaml \/channels\/events\/address parameter \{kind\} is not declared/,
    /door-lock-v1\/asyncapi\.yaml \/channels\/commands\/messages\/command \$ref "#\/components\/messages\/comand" points to nothing/,
    /door-lock-v1\/asyncapi\.yaml \/components\/correlationIds\/byRequestId\/location correlation id location "\$message\.header#\/requestId" is not supported/,
  ]) t.ok(messages.some((m) => re.test(m)), `reported: ${re.source}`)
  t.ok(messages.some((m) => /energy-meter-v1\/profile\.yaml \/deviceType deviceType "power-meter" does not match the folder name/.test(m)), 'folder name vs deviceType')
  t.ok(messages.some((m) => /energy-meter-v1\/profile\.yaml \/upstream\/alarm unknown placeholder \{site\}/.test(m)), 'template placeholder')
})

t.test('folder layout problems', async (t) => {
  const dir = copyDevices(t, ['env-sensor-v1'])
  renameSync(join(dir, 'env-sensor-v1'), join(dir, 'EnvSensor'))
  mkdirSync(join(dir, 'thermometer-v1'))
  writeFileSync(join(dir, 'thermometer-v1/asyncapi.yaml'), 'asyncapi: 3.0.0\ninfo:\n  title: x\n  version: 1.0.0\n  title: y\n')
  cpSync(join(dir, 'EnvSensor/profile.yaml'), join(dir, 'thermometer-v1/profile.yaml'))
  const err = loadError(dir)
  const text = err.message
  t.match(text, /EnvSensor: a device folder is named <device-type>-v<major>/)
  t.match(text, /\n {2}thermometer-v1\/asyncapi\.yaml:5:3: syntax error: Map keys must be unique/)
})

t.test('a missing directory is a contract error, not a crash', async (t) => {
  const err = loadError(join(t.testdir({}), 'nope'))
  t.match(err.message, /cannot read the contracts directory/)
})
