/** Values the configuration leaves for the caller to derive, derived in one place. */
import type { OutpostConfig, UpstreamConfig } from './schema.js'

/** The upstream client id: as configured, else `outpost-<gateway.id>`. */
export function resolveClientId(config: OutpostConfig, upstream: UpstreamConfig): string {
  return upstream.clientId ?? `outpost-${config.gateway.id}`
}

/** `auto` means no envelope on MQTT 5 (user properties carry the id) and JSON on 3.1.1. */
export function resolveEnvelope(upstream: UpstreamConfig): 'none' | 'json' {
  if (upstream.envelope !== 'auto') return upstream.envelope
  return upstream.protocolVersion === 5 ? 'none' : 'json'
}
