// What `outpost simulate` generates satisfies (or breaks) the contract as
// intended, for every device folder, without code changes per device.
import t from 'tap'
import { createChecker } from '../../src/contracts/checker.js'
import { loadContracts } from '../../src/contracts/loader.js'
import { seededRng } from '../../src/contracts/payload-gen.js'
import { pickContract, planEvent } from '../../src/contracts/simulation.js'
import { ErrorCodes, isOutpostError } from '../../src/errors.js'
import { DEVICES } from '../helpers/contracts.js'

const contracts = loadContracts(DEVICES)
const checker = createChecker(contracts, { gatewayId: 'gw', rateLimits: false })

for (const contract of contracts) {
  t.test(contract.folder, async (t) => {
    const rng = seededRng(7)
    let validOk = 0
    let invalidOk = 0
    const channels = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const valid = i % 4 !== 0
      const ev = planEvent(contract, i % 5, rng, valid)
      channels.add(ev.topic.replace(/sim\d/, '*'))
      const v = checker.check(ev.clientId, ev.topic, ev.payload)
      if (valid && v.kind === 'valid' && v.meta['device-type'] === contract.deviceType) validOk++
      if (!valid && v.kind === 'invalid') invalidOk++
    }
    t.equal(validOk, 150, 'every generated valid payload passes the checker')
    t.equal(invalidOk, 50, 'every deliberately broken payload fails it')
    t.equal(channels.size, contract.channels.filter((c) => c.devicePublishes).length, 'every channel the device publishes on is exercised')
  })
}

t.test('device type names', async (t) => {
  t.equal(pickContract(contracts, 'door-lock').folder, 'door-lock-v1')
  t.equal(pickContract(contracts, 'energy-meter-v1').folder, 'energy-meter-v1')
  t.ok(isOutpostError((() => { try { pickContract(contracts, 'toaster') } catch (e) { return e } })(), ErrorCodes.CONTRACT_UNKNOWN_DEVICE_TYPE))
})
