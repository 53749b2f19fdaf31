export { createUplink } from './uplink.js'
export { redactUrl } from './client-options.js'
export { decodeEnvelope, type Envelope } from './envelope.js'
export type {
  ReconnectPolicy, StatusListener, Uplink, UplinkDeps, UplinkOptions, UplinkStats, UplinkStatus, UplinkTlsOptions,
} from './types.js'
