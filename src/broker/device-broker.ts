import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Aedes, type AedesOptions, type Client } from 'aedes'
import type { Logger } from 'pino'
import { ErrorCodes, OutpostError } from '../errors.js'
import { connectRefusal } from './connect-rules.js'
import { guardPacketSize } from './packet-size-guard.js'
import { gatherPubacks } from './puback-writer.js'
import { speedUpPublishParsing, type PacketParser } from './publish-parser.js'
import { skipUnheardPublishes, type PublishingBroker, type SubscriptionCount } from './unheard-publish.js'
import type { AuthorizePublish } from './ingest.js'

export interface DeviceBrokerOptions {
  host: string
  port: number
  maxClientIdLength: number
  maxPayloadBytes: number
  authorizePublish: AuthorizePublish
  /** aedes persistence; the gateway passes the durable session store. */
  persistence?: unknown
  log: Logger
}

export type DeviceBrokerStatus = 'listening' | 'closing' | 'closed'

export interface DeviceBroker {
  readonly address: AddressInfo
  readonly status: DeviceBrokerStatus
  connectedClients(): number
  close(): Promise<void>
}

class ConnectRefused extends Error {
  constructor(readonly returnCode: number, message: string) {
    super(message)
  }
}

/**
 * The device-facing MQTT 3.1.1 broker: aedes on a TCP listener, with Outpost's
 * hooks. aedes accepts an empty client id with clean session off; the spec
 * says refuse it, so preConnect marks such clients and authenticate refuses
 * them with the right CONNACK code.
 */
export async function startDeviceBroker(opts: DeviceBrokerOptions): Promise<DeviceBroker> {
  const { log } = opts
  const refusals = new WeakMap<Client, number>()
  const aedesOpts: AedesOptions = {
    // A new broker id per run: wills stored by a previous run (whose devices lost
    // their connection when it died) are then published at start.
    preConnect: (client, packet, cb) => {
      const code = connectRefusal({ clientId: packet.clientId ?? '', clean: packet.clean !== false }, opts.maxClientIdLength)
      if (code !== null) refusals.set(client, code)
      cb(null, true)
    },
    authenticate: (client, _user, _pass, cb) => {
      const code = refusals.get(client)
      if (code !== undefined) {
        log.warn({ remote: remoteOf(client), returnCode: code }, 'connect refused: client identifier rejected [MQTT-3.1.3-8]')
        cb(new ConnectRefused(code, 'identifier rejected') as Error & { returnCode: number }, false)
        return
      }
      cb(null, true)
    },
    authorizePublish: opts.authorizePublish as AedesOptions['authorizePublish'],
  }
  if (opts.persistence !== undefined) aedesOpts.persistence = opts.persistence
  const aedes = await Aedes.createBroker(aedesOpts)
  // A publish no device at the edge subscribes to skips aedes' local fan-out (unheard-publish.ts).
  skipUnheardPublishes(aedes as unknown as PublishingBroker, opts.persistence as SubscriptionCount | undefined)

  aedes.on('clientError', (client, err) => {
    log.debug({ clientId: client?.id, err: err.message }, 'device connection error')
  })
  aedes.on('connectionError', (client, err) => {
    log.debug({ clientId: client?.id, err: err.message }, 'device connection refused')
  })

  // The largest legitimate packet: a PUBLISH with the longest topic MQTT allows
  // (2 + 65535 bytes), a packet id (2) and the largest accepted payload.
  const maxRemainingLength = opts.maxPayloadBytes + 2 + 65_535 + 2
  const server: Server = createServer((socket) => {
    // aedes reads with 'readable' + read(); attached after it, our 'data'
    // listener sees each chunk aedes pulls without changing the read mode.
    const client = aedes.handle(socket) as unknown as { _parser?: PacketParser }
    // Before the first read: PUBLISHes take the shorter parse (publish-parser.ts),
    // PUBACKs a shorter write (puback-writer.ts).
    if (client._parser !== undefined) speedUpPublishParsing(client._parser)
    gatherPubacks(socket)
    guardPacketSize(socket, maxRemainingLength, (verdict) => {
      log.warn({ remote: socket.remoteAddress, ...verdict, max: maxRemainingLength, code: ErrorCodes.BROKER_PAYLOAD_TOO_LARGE },
        verdict.kind === 'oversized'
          ? 'device sent a packet larger than broker.maxPayloadBytes allows; connection closed before buffering it'
          : 'device sent a malformed packet length; connection closed')
    })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new OutpostError(ErrorCodes.BROKER_LISTEN, `cannot listen on ${opts.host}:${opts.port}: ${err.message}`, { cause: err }))
      }
      server.once('error', onError)
      server.listen(opts.port, opts.host, () => {
        server.off('error', onError)
        resolve()
      })
    })
  } catch (err) {
    // aedes runs timers from creation on: close it, or the process never exits.
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    throw err
  }
  server.on('error', (err) => log.error({ err }, 'device listener error'))
  const address = server.address() as AddressInfo
  let status: DeviceBrokerStatus = 'listening'
  log.info({ host: address.address, port: address.port }, 'accepting device connections')

  return {
    address,
    get status() { return status },
    connectedClients: () => aedes.connectedClients,
    async close() {
      if (status !== 'listening') return
      status = 'closing'
      // Stop accepting first; the listener's close completes once aedes has closed the clients.
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await serverClosed
      status = 'closed'
    },
  }
}

function remoteOf(client: Client): string | undefined {
  const conn = client.conn as Partial<Socket> | undefined
  return conn?.remoteAddress
}
