import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

t.test('the package entry point exports the consumer API (built dist/, as users import it)', async (t) => {
  const pkg = await import('outpost') as Record<string, unknown>
  t.same(Object.keys(pkg).sort(), [
    'BATCH_CONTENT_TYPE', 'BATCH_VERSION', 'DEFAULT_LIMITS', 'ErrorCodes', 'OutpostError', 'decodeBatch',
    'decodeUpstreamMessage', 'encodeBatch', 'isBatch', 'isOutpostError', 'openDeduplicator', 'parseEnvelope', 'parseEventId',
  ], 'a small, deliberate surface: a new export is a decision, not an accident')
  const { decodeUpstreamMessage, openDeduplicator, encodeBatch } = pkg as typeof import('../src/index.js')
  const bytes = encodeBatch('gw', [{ id: 'gw-1-1', clientId: 'd', topic: 't', acceptedAt: 1, qos: 1, retain: false, payload: Buffer.from('x'), historical: false }])
  const dedup = openDeduplicator()
  t.equal(dedup.accept(decodeUpstreamMessage({ topic: 'u', payload: bytes })).length, 1)
  t.equal(dedup.accept(decodeUpstreamMessage({ topic: 'u', payload: bytes })).length, 0)
})

t.test('the cloud side imports nothing of the gateway', async (t) => {
  for (const dir of ['consumer', 'wire']) {
    for (const file of readdirSync(join(SRC, dir))) {
      const text = readFileSync(join(SRC, dir, file), 'utf8')
      const imports = [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => m[1] as string)
      const outside = imports.filter((p) => !p.startsWith('./') && p !== '../errors.js' && !p.startsWith('../wire/') && !p.startsWith('../consumer/'))
      t.same(outside, [], `${dir}/${file}`)
    }
  }
})
