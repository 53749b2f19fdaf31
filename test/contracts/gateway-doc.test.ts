// `outpost docs`: the gateway's own AsyncAPI document is valid AsyncAPI 3.0.0,
// describes what the cloud receives, and the pages are generated from it.
import t from 'tap'
import { parseConfig } from '../../src/config/index.js'
import { asyncapiProblems } from '../../src/contracts/asyncapi-validate.js'
import { htmlPage, markdownPage } from '../../src/contracts/doc-page.js'
import { gatewayDocument } from '../../src/contracts/gateway-doc.js'
import { loadContracts } from '../../src/contracts/loader.js'
import { DEVICES } from '../helpers/contracts.js'

const contracts = loadContracts(DEVICES)

/** The value at a path of keys in a JSON tree, undefined where it stops. */
function at(tree: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), tree)
}

t.test('MQTT 5 upstream: payload as the device sent it, metadata as user properties', async (t) => {
  const config = parseConfig('gateway: { id: plant7 }\nupstream: { url: "mqtts://cloud.example:8883" }\n', { source: 'x' })
  const doc = gatewayDocument({ config, contracts, outpostVersion: '0.1.0' })
  t.strictSame(asyncapiProblems(doc), [], 'valid against the official AsyncAPI 3.0.0 schema')
  t.strictSame(Object.keys(doc['channels'] as object).sort(), [
    'door-lock-v1-commandReplies', 'door-lock-v1-events', 'energy-meter-v1-alarm', 'energy-meter-v1-counters', 'env-sensor-v1-status', 'env-sensor-v1-telemetry',
  ], 'every channel devices publish on, not the command channel')
  t.equal(at(doc, 'channels', 'env-sensor-v1-telemetry', 'address'), 'fleet/plant7/env-sensor/v1/{sensorId}/telemetry')
  const reply = at(doc, 'components', 'messages', 'door-lock-v1-commandReplies-commandReply')
  t.equal(at(reply, 'headers', 'properties', 'outpost-message', 'const'), 'commandReply')
  t.ok(at(reply, 'headers', 'properties', 'outpost-correlation-id'), 'correlation id header where the message has one')
  t.strictSame(at(reply, 'correlationId'), { location: '$message.header#/outpost-correlation-id' })
  t.equal(at(doc, 'components', 'messages', 'energy-meter-v1-counters-counters', 'contentType'), 'application/cbor')
  t.strictSame(at(doc, 'servers', 'cloud'), { host: 'cloud.example:8883', protocol: 'secure-mqtt', protocolVersion: '5' })

  const md = markdownPage(doc)
  t.match(md, /^# Outpost gateway plant7/)
  t.match(md, /Topic: `fleet\/plant7\/door-lock\/v1\/\{lockId\}\/replies`/)
  t.match(md, /\| `phases\[\]\.voltageV` \| number \| yes \| minimum 0, maximum 300 \|/)
  const html = htmlPage(doc)
  t.match(html, /<h2>Energy meter 1\.0\.0: counters<\/h2>/)
  t.notMatch(html, /<script/)
})

t.test('MQTT 3.1.1 upstream: the JSON envelope is the payload', async (t) => {
  const config = parseConfig('upstream: { url: "mqtt://cloud:1883", protocolVersion: 4 }\n', { source: 'x' })
  const doc = gatewayDocument({ config, contracts, outpostVersion: '0.1.0' })
  t.strictSame(asyncapiProblems(doc), [])
  const counters = at(doc, 'components', 'messages', 'energy-meter-v1-counters-counters')
  t.equal(at(counters, 'contentType'), 'application/json')
  t.ok((at(counters, 'payload', 'required') as string[]).includes('payload'), 'envelope fields')
  t.equal(at(doc, 'channels', 'env-sensor-v1-telemetry', 'address'), 'fleet/outpost/env-sensor/v1/{sensorId}/telemetry')
})

t.test('a channel without an upstream mapping uses upstream.topicTemplate around the device topic', async (t) => {
  const withoutMapping = contracts.map((c) => ({ ...c, channels: c.channels.map((ch) => ({ ...ch, upstream: undefined })) }))
  const config = parseConfig('gateway: { id: gw }\n', { source: 'x' })
  const doc = gatewayDocument({ config, contracts: withoutMapping, outpostVersion: '0.1.0' })
  t.equal(at(doc, 'channels', 'door-lock-v1-events', 'address'), 'outpost/gw/lock/{lockId}/events')
  t.strictSame(asyncapiProblems(doc), [])
})
