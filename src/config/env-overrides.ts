/** Environment variable -> dotted key path it overrides. Order matters: the URL creates the upstream section. */
export const ENV_OVERRIDES = {
  OUTPOST_GATEWAY_ID: 'gateway.id',
  OUTPOST_DATA_DIR: 'gateway.dataDir',
  OUTPOST_LOG_LEVEL: 'log.level',
  OUTPOST_LOG_FORMAT: 'log.format',
  OUTPOST_MQTT_HOST: 'broker.host',
  OUTPOST_MQTT_PORT: 'broker.port',
  OUTPOST_UPSTREAM_URL: 'upstream.url',
  OUTPOST_UPSTREAM_CLIENT_ID: 'upstream.clientId',
  OUTPOST_UPSTREAM_USERNAME: 'upstream.username',
  OUTPOST_UPSTREAM_PASSWORD: 'upstream.password',
} as const

export type EnvOverrideName = keyof typeof ENV_OVERRIDES

export function envNameFor(path: string): EnvOverrideName | undefined {
  return (Object.keys(ENV_OVERRIDES) as EnvOverrideName[]).find((name) => ENV_OVERRIDES[name] === path)
}
