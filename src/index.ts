/**
 * The `outpost` package's library surface: what a cloud-side consumer needs to
 * read what Outpost gateways send and to drop duplicates by event id.
 * The gateway itself is the `outpost` command (dist/cli/main.js).
 *
 * ```ts
 * import { connect } from 'mqtt'
 * import { decodeUpstreamMessage, openDeduplicator } from 'outpost'
 *
 * const dedup = openDeduplicator({ stateFile: 'seen.state' })
 * const client = connect(url, { clientId: 'billing', clean: false, protocolVersion: 5,
 *   properties: { sessionExpiryInterval: 86400 } })
 * client.handleMessage = (packet, done) => {   // the PUBACK goes out after done()
 *   for (const event of dedup.accept(decodeUpstreamMessage(packet))) handle(event)
 *   done()
 * }
 * ```
 * Guarantees and limits: docs/consumer.md.
 * @packageDocumentation
 */

export { decodeUpstreamMessage } from './consumer/decode-message.js'
export type { ConsumedEvent, UpstreamFormat, UpstreamMessage } from './consumer/event.js'
export { openDeduplicator } from './consumer/deduplicator.js'
export type { Deduplicator, DeduplicatorOptions, DedupStats, StateReport } from './consumer/deduplicator.js'
export { DEFAULT_LIMITS, type DedupLimits } from './consumer/dedup-filter.js'
export { parseEventId, type ParsedEventId } from './consumer/event-id.js'
export { BATCH_CONTENT_TYPE, BATCH_VERSION, decodeBatch, encodeBatch, isBatch } from './wire/batch-codec.js'
export type { BatchEvent, DecodedBatch } from './wire/batch-codec.js'
export { parseEnvelope } from './wire/envelope.js'
export type { EnvelopeEvent } from './wire/envelope.js'
export { ErrorCodes, isOutpostError, OutpostError } from './errors.js'
export type { ErrorCode } from './errors.js'
