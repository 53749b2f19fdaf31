import t from 'tap'
import { describeConnectError } from '../../src/uplink/uplink.js'

const err = (message: string, code?: string | number): Error & { code?: string | number } => Object.assign(new Error(message), code === undefined ? {} : { code })

t.test('refused credentials name the settings to check', async (t) => {
  for (const code of [4, 5, 0x86, 0x87]) {
    const text = describeConnectError(err('Connection refused: Not authorized', code))
    t.match(text, /^Connection refused: Not authorized \(the upstream refused the gateway's credentials; check upstream\.username and upstream\.password/, `code ${code}`)
  }
})

t.test('certificate problems name the TLS settings', async (t) => {
  t.match(describeConnectError(err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')), /check upstream\.tls\.ca/)
})

t.test('other errors pass through unchanged', async (t) => {
  t.equal(describeConnectError(err('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED')), 'connect ECONNREFUSED 127.0.0.1:1')
  t.equal(describeConnectError(err('Connection refused: Server unavailable', 3)), 'Connection refused: Server unavailable')
})
