import t from 'tap'
import { parseConfig, resolveClientId, resolveEnvelope } from '../../src/config/index.js'

const upstreamOf = (text: string) => {
  const config = parseConfig(text, { source: 'f.yaml' })
  if (config.upstream === null) throw new Error('no upstream')
  return { config, upstream: config.upstream }
}

t.test('client id defaults to outpost-<gateway.id>', async (t) => {
  const a = upstreamOf('gateway: { id: site-3 }\nupstream: { url: mqtt://c }\n')
  t.equal(resolveClientId(a.config, a.upstream), 'outpost-site-3')
  const b = upstreamOf('upstream: { url: mqtt://c, clientId: mine }\n')
  t.equal(resolveClientId(b.config, b.upstream), 'mine')
})

t.test('envelope auto follows the protocol version', async (t) => {
  t.equal(resolveEnvelope(upstreamOf('upstream: { url: mqtt://c }').upstream), 'none')
  t.equal(resolveEnvelope(upstreamOf('upstream: { url: mqtt://c, protocolVersion: 4 }').upstream), 'json')
  t.equal(resolveEnvelope(upstreamOf('upstream: { url: mqtt://c, protocolVersion: 4, envelope: none }').upstream), 'none')
  t.equal(resolveEnvelope(upstreamOf('upstream: { url: mqtt://c, envelope: json }').upstream), 'json')
})
