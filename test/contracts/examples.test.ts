// Every devices/*/examples file validates, or fails, as its name says. A new
// device folder is covered by this test without any code change.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createChecker } from '../../src/contracts/checker.js'
import { readExamples } from '../../src/contracts/examples.js'
import { loadContracts } from '../../src/contracts/loader.js'

const DEVICES = fileURLToPath(new URL('../../devices', import.meta.url))
const contracts = loadContracts(DEVICES)
const checker = createChecker(contracts, { gatewayId: 'gw' })

t.test('every device folder loaded', async (t) => {
  const folders = readdirSync(DEVICES, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
  t.strictSame(contracts.map((c) => c.folder).sort(), folders)
  t.ok(folders.length >= 3, 'the three shipped device types at least')
})

for (const contract of contracts) {
  t.test(contract.folder, async (t) => {
    const examples = readExamples(contract)
    t.ok(examples.some((e) => e.expectValid), 'has at least one valid example')
    t.ok(examples.some((e) => !e.expectValid), 'has at least one invalid example')
    for (const ex of examples) {
      const name = ex.file.slice(ex.file.lastIndexOf('/') + 1)
      const v = checker.check(ex.clientId, ex.topic, ex.bytes)
      if (ex.expectValid) {
        t.equal(v.kind, 'valid', `${name} is valid${v.kind === 'invalid' ? `: ${v.reason} ${v.errors.join('; ')}` : ''}`)
        if (v.kind === 'valid') {
          t.equal(v.meta['device-type'], contract.deviceType, `${name}: device type`)
          t.equal(v.meta['contract-version'], contract.version, `${name}: contract version`)
          if (ex.expectMeta) t.match(v.meta, ex.expectMeta, `${name}: expected meta`)
        }
      } else {
        t.equal(v.kind, 'invalid', `${name} is invalid`)
        if (v.kind === 'invalid') t.ok(v.errors.length > 0, `${name}: the reason is explained (${v.reason}: ${v.errors[0] ?? ''})`)
      }
    }
  })
}
