import type { IClientPublishOptions } from 'mqtt'
import type { StoredEvent } from '../spool/types.js'
import { BATCH_CONTENT_TYPE, encodeBatch, type BatchEvent } from '../wire/batch-codec.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import { asBuffer } from './envelope.js'
import type { OutgoingPacket } from './packet-builder.js'
import { topicNameProblem } from './topic-template.js'

/**
 * Batched mode (`upstream.batch`): many events in one upstream message, in
 * the CBOR format of docs/batch-format.md (codec: src/wire/batch-codec.ts).
 * Pure: no client, no I/O.
 *
 * - Topic: `upstream.batch.topic` with {gatewayId} substituted; per-event
 *   upstream topics (device contracts) do not apply: the device topic travels
 *   inside the batch.
 * - MQTT 5: content type application/vnd.outpost.batch+cbor, user properties
 *   `outpost-batch: 1` and `outpost-count: <n>`. QoS 1, retain off.
 */

export type BatchBuilder = (events: readonly StoredEvent[], historical: readonly boolean[]) => OutgoingPacket

const PLAIN_V4: IClientPublishOptions = Object.freeze({ qos: 1, retain: false })

/** Throws OUTPOST_UPLINK_TOPIC_TEMPLATE when the batch topic is not a valid topic name. */
export function compileBatchTopic(template: string, gatewayId: string): string {
  const topic = template.replaceAll('{gatewayId}', gatewayId)
  const problem = /[{}]/.test(topic) ? 'may hold no placeholder but {gatewayId}' : topicNameProblem(topic)
  if (problem !== null) {
    throw new OutpostError(ErrorCodes.UPLINK_TOPIC_TEMPLATE, `upstream.batch.topic '${template}' ${problem}`)
  }
  return topic
}

export function createBatchBuilder(opts: { gatewayId: string; topic: string; protocolVersion: 4 | 5 }): BatchBuilder {
  const { gatewayId, topic } = opts
  return (events, historical) => {
    const rows = new Array<BatchEvent>(events.length)
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      const row: BatchEvent = {
        id: e.id, clientId: e.clientId, topic: e.topic, acceptedAt: e.acceptedAt,
        qos: e.qos, retain: e.retain, payload: asBuffer(e.payload), historical: historical[i] === true,
      }
      if (e.meta !== undefined) row.meta = e.meta
      rows[i] = row
    }
    const payload = encodeBatch(gatewayId, rows)
    if (opts.protocolVersion === 4) return { topic, payload, opts: PLAIN_V4 }
    return {
      topic,
      payload,
      opts: {
        qos: 1,
        retain: false,
        properties: {
          contentType: BATCH_CONTENT_TYPE,
          userProperties: { 'outpost-batch': '1', 'outpost-count': String(events.length) },
        },
      },
    }
  }
}

/** Fixed bytes of a batch besides its events: tag, array headers, marker, version, gateway id. */
export function batchOverheadBytes(gatewayId: string): number {
  return 3 + 1 + 14 + 1 + 3 + Buffer.byteLength(gatewayId) + 5
}

/**
 * An upper bound of the CBOR bytes one event adds to a batch: the strings and
 * payload plus at most 5 header bytes per item, 9 for acceptedAt.
 */
export function batchEventBytes(e: StoredEvent): number {
  let n = 1 + 5 + e.id.length + 5 + Buffer.byteLength(e.clientId) + 5 + Buffer.byteLength(e.topic) + 9 + 1 + 1 +
    5 + e.payload.byteLength + 1 + 1
  if (e.meta !== undefined) {
    n += 5
    for (const key in e.meta) n += 10 + Buffer.byteLength(key) + Buffer.byteLength(e.meta[key]!)
  }
  return n
}
