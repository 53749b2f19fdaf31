import type { Uplink, UplinkOptions, UplinkStatus } from '../../src/uplink/types.js'
import type { MemorySpool } from './memory-spool.js'

/**
 * Shared setup for uplink tests: options with short timeouts for a broker on
 * 127.0.0.1, and waits on an uplink's status and a spool's backlog.
 */

/** Uplink options for tests: a fresh client id, quick backoff; `over` replaces fields. */
export function uplinkOptions(url: string, over: Partial<UplinkOptions> = {}): UplinkOptions {
  return {
    url,
    protocolVersion: 5,
    clientId: `outpost-it-${process.pid}-${Math.random().toString(36).slice(2, 6)}`,
    username: null,
    password: null,
    clean: false,
    keepaliveSec: 10,
    connectTimeoutMs: 1000,
    topicTemplate: 'outpost/{gatewayId}/{topic}',
    qos: 1,
    window: 32,
    envelope: 'auto',
    reconnect: { initialDelayMs: 50, maxDelayMs: 400, multiplier: 2, jitter: 0.2 },
    ackTimeoutMs: 3000,
    rejected: { maxAttempts: 3, retryDelayMs: 100 },
    tls: null,
    batch: { maxEvents: 0, maxBytes: 131_072, lingerMs: 0, window: 16, topic: 'outpost/{gatewayId}/batch' },
    rateLimit: { eventsPerSec: 0, bytesPerSec: 0 },
    historicalAfterMs: null,
    poisonAfterDrops: 3,
    ...over,
  }
}

/** Resolves when the uplink is (or becomes) `want`; rejects after `ms`. */
export function waitStatus(uplink: Uplink, want: UplinkStatus, ms = 5000): Promise<void> {
  if (uplink.status === want) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`uplink never reached ${want} (is ${uplink.status})`)) }, ms)
    const off = uplink.onStatus((s) => {
      if (s !== want) return
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}

/** Resolves once the spool holds no pending record; rejects after `ms`. */
export async function drained(spool: MemorySpool, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (spool.stats().pending > 0) {
    if (Date.now() > deadline) throw new Error(`spool still holds ${spool.stats().pending} records`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The sequence number at the end of an event id (`gw-1-42` -> 42). */
export const seqOf = (id: unknown): number => Number(String(id).split('-').pop())
