/**
 * The per-event check on the ingest path: topic -> channel (index by first
 * topic level, so only channels that can match are tried; cached per client
 * and topic), client -> profile,
 * then size, content type, payload schema and rate. Synchronous and
 * allocation-light; every validator was compiled at start-up.
 */
import type { ErrorObject } from 'ajv'
import { decodePayload } from './payload-codec.js'
import { createRateLimiter, type RateLimiter } from './rate-limit.js'
import { matchTopic } from './topic-pattern.js'
import type { ChannelSpec, Contract, InvalidReason, MessageSpec, Verdict } from './types.js'

interface Candidate {
  contract: Contract
  channel: ChannelSpec
  limiter: RateLimiter | undefined
  upstream: Array<string | { param: string }> | undefined
  meta: Map<MessageSpec, Readonly<Record<string, string>>>
}

export interface CheckerOptions {
  gatewayId: string
  now?: () => number
  /** Apply the profiles' maxRate (default true; off for dead-letter replay). */
  rateLimits?: boolean
}

export interface Checker {
  check(clientId: string, topic: string, payload: Uint8Array): Verdict
  /** The contracts it was built from, newest version first per device type. */
  readonly contracts: readonly Contract[]
}

/** `fleet/{gatewayId}/x/{id}` -> literal parts and placeholders, split once. */
function splitTemplate(template: string): Array<string | { param: string }> {
  const parts: Array<string | { param: string }> = []
  let last = 0
  for (const m of template.matchAll(/\{([^{}]+)\}/g)) {
    if (m.index > last) parts.push(template.slice(last, m.index))
    parts.push({ param: m[1]! })
    last = m.index + m[0].length
  }
  if (last < template.length) parts.push(template.slice(last))
  return parts
}

export function formatAjvErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).slice(0, 10).map((e) => {
    const p = e.params as { additionalProperty?: string; allowedValues?: unknown[] }
    const at = e.instancePath === '' ? '/' : e.instancePath
    if (e.keyword === 'additionalProperties') return `${at}: unknown property "${p.additionalProperty ?? ''}"`
    if (e.keyword === 'enum' && p.allowedValues) return `${at}: must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    return `${at}: ${e.message ?? e.keyword}`
  })
}

function versionOrder(a: Contract, b: Contract): number {
  const pa = a.version.split('.').map(Number)
  const pb = b.version.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0)
    if (d !== 0 && !Number.isNaN(d)) return d
  }
  return 0
}

export function createChecker(contractList: readonly Contract[], opts: CheckerOptions): Checker {
  const now = opts.now ?? Date.now
  const contracts = [...contractList].sort(versionOrder)
  const byFirst = new Map<string, Candidate[]>()
  const anyFirst: Candidate[] = []
  for (const contract of contracts) {
    const rate = contract.profile.maxRate
    const limiter = rate && opts.rateLimits !== false ? createRateLimiter(rate.perSecond, rate.burst ?? Math.max(1, Math.ceil(rate.perSecond))) : undefined
    for (const channel of contract.channels) {
      const meta = new Map(channel.messages.map((m) => [m, Object.freeze({
        'device-type': contract.deviceType, 'contract-version': contract.version, message: m.name,
      })] as const))
      const cand: Candidate = { contract, channel, limiter, upstream: channel.upstream === undefined ? undefined : splitTemplate(channel.upstream), meta }
      const first = channel.pattern.firstLiteral
      if (first === undefined) {
        anyFirst.push(cand)
      } else {
        let list = byFirst.get(first)
        if (!list) byFirst.set(first, list = [])
        list.push(cand)
      }
    }
  }

  const invalid = (c: Candidate | undefined, reason: InvalidReason, errors: string[]): Verdict => ({
    kind: 'invalid', reason, errors,
    ...(c ? { deviceType: c.contract.deviceType, contractVersion: c.contract.version } : {}),
  })

  function render(parts: Array<string | { param: string }>, c: Candidate, clientId: string, params: Record<string, string>): string {
    let out = ''
    for (const part of parts) {
      if (typeof part === 'string') out += part
      else if (part.param === 'gatewayId') out += opts.gatewayId
      else if (part.param === 'clientId') out += clientId
      else if (part.param === 'deviceType') out += c.contract.deviceType
      else if (part.param === 'version') out += c.contract.version
      else out += params[part.param] ?? ''
    }
    return out
  }

  function against(c: Candidate, clientId: string, payload: Uint8Array, upstreamTopic: string | undefined): Verdict {
    const { contract, channel } = c
    if (!channel.devicePublishes) {
      return invalid(c, 'not-published-by-device', [`channel "${channel.id}" (${channel.address}) is not one ${contract.deviceType} devices publish on`])
    }
    const max = contract.profile.maxPayloadBytes
    if (max !== undefined && payload.length > max) {
      return invalid(c, 'too-large', [`payload of ${payload.length} bytes exceeds the profile's maxPayloadBytes ${max}`])
    }
    let decoded: unknown
    let decodedAs: string | undefined
    let decodeError: string | undefined
    let schemaErrors: string[] | undefined
    let chosen: MessageSpec | undefined
    for (const m of channel.messages) {
      if (decodedAs !== m.contentType) {
        decoded = decodePayload(m.contentType, payload)
        decodedAs = m.contentType
      }
      if (decoded instanceof Error) {
        decodeError ??= decoded.message
        continue
      }
      if (m.validate(decoded)) {
        chosen = m
        break
      }
      schemaErrors ??= formatAjvErrors(m.validate.errors)
    }
    if (chosen === undefined) {
      return schemaErrors ? invalid(c, 'schema', schemaErrors) : invalid(c, 'undecodable', [decodeError ?? 'payload could not be decoded'])
    }
    if (c.limiter && !c.limiter.take(clientId, now())) {
      return invalid(c, 'rate-limit', [`more than ${contract.profile.maxRate!.perSecond}/s (burst ${contract.profile.maxRate!.burst ?? 1}) from this client`])
    }
    // The metadata of a message is the same for every event: shared, frozen,
    // copied only to add a correlation id.
    let meta = c.meta.get(chosen)!
    if (chosen.correlationPath) {
      let v: unknown = decoded
      for (const seg of chosen.correlationPath) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[seg] : undefined
      if (typeof v === 'string' || typeof v === 'number') meta = { ...meta, 'correlation-id': String(v) }
    }
    return upstreamTopic === undefined ? { kind: 'valid', meta } : { kind: 'valid', meta, upstreamTopic }
  }

  /** What a (client, topic) pair resolves to: the same for every event of a device on a topic. */
  interface Route {
    /** Candidates whose channel matches the topic and whose profile accepts the client, newest first. */
    targets: Array<{ c: Candidate; params: Record<string, string>; upstreamTopic: string | undefined }>
    /** A matching channel whose profile does not accept the client, when no target exists. */
    clientFailure: Candidate | undefined
  }

  function resolveRoute(clientId: string, topic: string): Route {
    const levels = topic.split('/')
    const route: Route = { targets: [], clientFailure: undefined }
    for (const list of [byFirst.get(levels[0]!), anyFirst]) {
      for (const c of list ?? []) {
        const params = matchTopic(c.channel.pattern, levels, c.channel.allowed)
        if (params === undefined) continue
        if (!c.contract.matchesClient(clientId)) {
          route.clientFailure ??= c
          continue
        }
        route.targets.push({ c, params, upstreamTopic: c.upstream ? render(c.upstream, c, clientId, params) : undefined })
      }
    }
    return route
  }

  // Devices publish to a small, stable set of topics: resolve each (client,
  // topic) once. Bounded anyway, like the forward predicate's cache.
  const routes = new Map<string, Route>()

  function check(clientId: string, topic: string, payload: Uint8Array): Verdict {
    const key = clientId + '\u0000' + topic
    let route = routes.get(key)
    if (route === undefined) {
      route = resolveRoute(clientId, topic)
      if (routes.size >= 10_000) routes.clear()
      routes.set(key, route)
    }
    let firstFailure: Verdict | undefined
    for (const t of route.targets) {
      const v = against(t.c, clientId, payload, t.upstreamTopic)
      if (v.kind === 'valid') return v
      firstFailure ??= v
    }
    if (firstFailure) return firstFailure
    const c = route.clientFailure
    if (c === undefined) return { kind: 'unknown' }
    return invalid(c, 'client-not-in-profile',
      [`client "${clientId}" is not a ${c.contract.deviceType} device (profile clients: ${c.contract.profile.clients.join(', ')}), but topic "${topic}" is the ${c.contract.deviceType} channel "${c.channel.id}"`])
  }

  return { check, contracts }
}
