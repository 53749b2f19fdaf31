/** Values the configuration leaves for the caller to derive, derived in one place. */
import type { OutpostConfig, UpstreamConfig } from './schema.js'

/** The upstream client id: as configured, else `outpost-<gateway.id>`. */
export function resolveClientId(config: OutpostConfig, upstream: UpstreamConfig): string {
  return upstream.clientId ?? `outpost-${config.gateway.id}`
}
