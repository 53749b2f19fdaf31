import t from 'tap'
import { parseConfig, resolveClientId } from '../../src/config/index.js'

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
