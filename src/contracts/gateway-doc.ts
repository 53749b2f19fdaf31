/**
 * The gateway's own AsyncAPI 3.0.0 document: what the cloud receives from
 * this gateway, per device type, contract version and message, with the
 * payload schemas and the MQTT 5 user properties (or the JSON envelope on
 * 3.1.1 upstreams) as message headers. `outpost docs` writes it, and a
 * readable page generated from it.
 */
import type { OutpostConfig } from '../config/index.js'
import type { Contract } from './types.js'

type Obj = Record<string, unknown>

export interface GatewayDocOptions {
  config: OutpostConfig
  contracts: readonly Contract[]
  outpostVersion: string
}

const str = (description: string, extra: Obj = {}): Obj => ({ type: 'string', description, ...extra })

/** Upstream topic pattern of a channel: the profile's template, else upstream.topicTemplate around the device address. */
function upstreamAddress(contract: Contract, template: string | undefined, deviceAddress: string, config: OutpostConfig): string {
  const t = template ?? (config.upstream?.topicTemplate ?? 'outpost/{gatewayId}/{topic}')
  return t.replace(/\{([^{}]+)\}/g, (whole, name: string) => {
    if (name === 'gatewayId') return config.gateway.id
    if (name === 'deviceType') return contract.deviceType
    if (name === 'version') return contract.version
    if (name === 'topic') return deviceAddress
    return whole
  })
}

function envelopeMode(config: OutpostConfig): 'none' | 'json' {
  const up = config.upstream
  if (up === null) return 'none'
  if (up.envelope === 'auto') return up.protocolVersion === 5 ? 'none' : 'json'
  return up.envelope
}

export function gatewayDocument(opts: GatewayDocOptions): Obj {
  const { config, contracts } = opts
  const envelope = envelopeMode(config)
  const protocol5 = config.upstream === null || config.upstream.protocolVersion === 5
  const channels: Obj = {}
  const operations: Obj = {}
  const messages: Obj = {}
  for (const contract of contracts) {
    const major = contract.folder.slice(contract.folder.lastIndexOf('-v') + 2)
    for (const ch of contract.channels) {
      if (!ch.devicePublishes) continue
      const chId = `${contract.deviceType}-v${major}-${ch.id}`
      const address = upstreamAddress(contract, ch.upstream, ch.address, config)
      const params = [...address.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]!)
      const chMessages: Obj = {}
      for (const m of ch.messages) {
        const msgId = `${chId}-${m.id}`
        const headers: Obj = {
          type: 'object',
          description: protocol5 ? 'MQTT 5 user properties set by the gateway.' : 'Not sent on an MQTT 3.1.1 upstream: the same fields travel in the JSON envelope.',
          required: ['outpost-id', 'outpost-client', 'outpost-ts', 'outpost-device-type', 'outpost-contract-version', 'outpost-message'],
          properties: {
            'outpost-id': str('Event id `<gatewayId>-<epoch>-<seq>`: drop duplicates by it (delivery is at least once).'),
            'outpost-client': str('MQTT client id of the device.'),
            'outpost-ts': str('When the gateway accepted the event, ms since the Unix epoch.', { pattern: '^[0-9]+$' }),
            'outpost-retain': str('"1" when the device published with retain.', { const: '1' }),
            'outpost-device-type': str('Device type of the contract the event matched.', { const: contract.deviceType }),
            'outpost-contract-version': str('Version of that contract.', { const: contract.version }),
            'outpost-message': str('Message name in that contract.', { const: m.name }),
            ...(m.correlationPath ? { 'outpost-correlation-id': str(`Correlation id, copied from ${m.correlationLocation ?? ''}.`) } : {}),
            'outpost-dead-lettered-at': str('Set on an event replayed from the dead-letter store: when it was first refused (ISO 8601).'),
          },
        }
        const payload = envelope === 'json'
          ? {
              type: 'object',
              description: `JSON envelope (docs/envelope.md); "payload" holds the device payload (${m.contentType}), base64.`,
              required: ['id', 'clientId', 'topic', 'acceptedAt', 'qos', 'retain', 'payload'],
              properties: {
                id: { type: 'string' }, clientId: { type: 'string' }, topic: { type: 'string' }, acceptedAt: { type: 'integer' },
                qos: { type: 'integer', enum: [0, 1, 2] }, retain: { type: 'boolean' }, payload: { type: 'string', contentEncoding: 'base64' },
                meta: { type: 'object', additionalProperties: { type: 'string' } },
              },
              'x-outpost-device-payload': m.payloadSchema,
            }
          : m.payloadSchema
        messages[msgId] = {
          name: m.name,
          title: m.title ?? `${contract.title}: ${m.name}`,
          contentType: envelope === 'json' ? 'application/json' : m.contentType,
          headers,
          payload,
          ...(m.correlationPath && protocol5 ? { correlationId: { location: '$message.header#/outpost-correlation-id' } } : {}),
          'x-outpost-contract': { folder: contract.folder, deviceType: contract.deviceType, version: contract.version, deviceTopic: ch.address },
        }
        chMessages[m.id] = { $ref: `#/components/messages/${msgId}` }
      }
      channels[chId] = {
        address,
        title: `${contract.title} ${contract.version}: ${ch.id}`,
        ...(ch.description ? { description: ch.description } : {}),
        ...(params.length > 0 ? { parameters: Object.fromEntries(params.map((p) => [p, { description: p === 'clientId' ? 'MQTT client id of the device.' : `Taken from the device topic ${ch.address}.` }])) } : {}),
        messages: chMessages,
      }
      operations[`forward-${chId}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${chId}` },
        summary: `Events of ${contract.deviceType} devices that passed contract ${contract.version}.`,
      }
    }
  }
  const doc: Obj = {
    asyncapi: '3.0.0',
    info: {
      title: `Outpost gateway ${config.gateway.id}`,
      version: opts.outpostVersion,
      description: 'What this Outpost gateway forwards to the cloud: events that passed their device contract, ' +
        'with the gateway\'s metadata. Generated by `outpost docs` from the device contracts; do not edit.',
    },
    ...(config.upstream ? { servers: { cloud: serverOf(config) } } : {}),
    channels, operations,
    components: { messages },
  }
  return doc
}

function serverOf(config: OutpostConfig): Obj {
  const url = new URL(config.upstream!.url)
  return {
    host: url.port ? `${url.hostname}:${url.port}` : url.hostname,
    protocol: url.protocol === 'mqtts:' ? 'secure-mqtt' : 'mqtt',
    protocolVersion: config.upstream!.protocolVersion === 5 ? '5' : '3.1.1',
  }
}
