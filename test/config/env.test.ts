import t from 'tap'
import { caughtConfigError } from '../helpers/config-error.js'
import { ENV_OVERRIDES, formatConfigError, parseConfig, type EnvOverrideName } from '../../src/config/index.js'

const SOURCE = 'outpost.yaml'
type Env = Record<string, string | undefined>

const parse = (text: string, env: Env) => parseConfig(text, { source: SOURCE, env })

const caught = caughtConfigError

function get(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | null)?.[key], config)
}

// Typed by EnvOverrideName, so adding an override without a sample here fails to compile.
const SAMPLES: Record<EnvOverrideName, { raw: string; value: unknown }> = {
  OUTPOST_GATEWAY_ID: { raw: 'site-7', value: 'site-7' },
  OUTPOST_DATA_DIR: { raw: '/var/lib/outpost', value: '/var/lib/outpost' },
  OUTPOST_LOG_LEVEL: { raw: 'debug', value: 'debug' },
  OUTPOST_LOG_FORMAT: { raw: 'pretty', value: 'pretty' },
  OUTPOST_MQTT_HOST: { raw: '127.0.0.1', value: '127.0.0.1' },
  OUTPOST_MQTT_PORT: { raw: '0', value: 0 },
  OUTPOST_UPSTREAM_URL: { raw: 'mqtts://cloud.example:8883', value: 'mqtts://cloud.example:8883' },
  OUTPOST_UPSTREAM_CLIENT_ID: { raw: 'edge-1', value: 'edge-1' },
  OUTPOST_UPSTREAM_USERNAME: { raw: 'edge', value: 'edge' },
  OUTPOST_UPSTREAM_PASSWORD: { raw: 's3cret', value: 's3cret' },
}

const WITH_UPSTREAM = 'upstream:\n  url: mqtt://from-file\n'

t.test('every override in ENV_OVERRIDES applies to its key', async (t) => {
  for (const [name, path] of Object.entries(ENV_OVERRIDES) as [EnvOverrideName, string][]) {
    const { raw, value } = SAMPLES[name]
    const before = parse(WITH_UPSTREAM, {})
    t.not(get(before, path), value, `${name}: the sample differs from the file`)
    t.equal(get(parse(WITH_UPSTREAM, { [name]: raw }), path), value, `${name} sets ${path}`)
  }
})

t.test('all overrides together', async (t) => {
  const env = Object.fromEntries(Object.entries(SAMPLES).map(([name, { raw }]) => [name, raw]))
  const config = parse('', env)
  for (const [name, path] of Object.entries(ENV_OVERRIDES) as [EnvOverrideName, string][]) {
    t.equal(get(config, path), SAMPLES[name].value, path)
  }
})

t.test('an env var set to the empty string counts as unset', async (t) => {
  const config = parse('broker:\n  port: 1999\n', { OUTPOST_MQTT_PORT: '', OUTPOST_UPSTREAM_URL: '' })
  t.equal(config.broker.port, 1999)
  t.equal(config.upstream, null)
})

t.test('unrelated variables are ignored', async (t) => {
  t.equal(parse('', { OUTPOST_MQTT_PROT: '1', PATH: '/bin' }).broker.port, 1883)
})

t.test('bad env values name the variable, the key and what was expected', async (t) => {
  const err = caught(() => parse('', {
    OUTPOST_MQTT_PORT: 'abc',
    OUTPOST_LOG_LEVEL: 'verbose',
    OUTPOST_GATEWAY_ID: 'has space',
  }))
  t.equal(formatConfigError(err), [
    'invalid configuration (3 problems):',
    '  env OUTPOST_GATEWAY_ID: gateway.id: expected 1 to 64 characters from A-Z a-z 0-9 _ -, got "has space"',
    '  env OUTPOST_LOG_LEVEL: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "verbose"',
    '  env OUTPOST_MQTT_PORT: broker.port: expected integer 0..65535, got "abc"',
  ].join('\n'))
})

t.test('numbers from the environment are checked for range and form', async (t) => {
  t.equal(caught(() => parse('', { OUTPOST_MQTT_PORT: '65536' })).issues[0]?.message, 'expected integer 0..65535, got 65536')
  t.equal(caught(() => parse('', { OUTPOST_MQTT_PORT: '18.83' })).issues[0]?.message, 'expected integer 0..65535, got "18.83"')
  t.equal(parse('', { OUTPOST_MQTT_PORT: ' 1884 ' }).broker.port, 1884)
})

t.test('an upstream URL from the environment is checked like one from the file', async (t) => {
  t.strictSame(caught(() => parse('', { OUTPOST_UPSTREAM_URL: 'tcp://cloud' })).issues, [{
    source: 'env OUTPOST_UPSTREAM_URL',
    path: 'upstream.url',
    message: 'expected a URL starting with mqtt:// or mqtts://, got "tcp://cloud"',
  }])
})

t.test('file and env problems are reported together', async (t) => {
  const err = caught(() => parse('broker:\n  hots: x\n', { OUTPOST_MQTT_PORT: 'x' }))
  t.strictSame(err.issues.map((issue) => `${issue.source}: ${issue.path}`), [
    'outpost.yaml: broker.hots',
    'env OUTPOST_MQTT_PORT: broker.port',
  ])
})

t.test('upstream null + OUTPOST_UPSTREAM_URL creates the section with defaults', async (t) => {
  const config = parse('upstream: null\n', { OUTPOST_UPSTREAM_URL: 'mqtt://cloud:1883', OUTPOST_UPSTREAM_USERNAME: 'u' })
  const expected = parse('upstream:\n  url: mqtt://cloud:1883\n  username: u\n', {})
  t.strictSame(config, expected)
  t.ok(Object.isFrozen(config.upstream), 'the created section is frozen too')
})

t.test('OUTPOST_UPSTREAM_URL overrides the url of an upstream in the file, keeping the rest', async (t) => {
  const config = parse('upstream:\n  url: mqtt://a\n  window: 8\n', { OUTPOST_UPSTREAM_URL: 'mqtt://b' })
  t.equal(config.upstream?.url, 'mqtt://b')
  t.equal(config.upstream?.window, 8)
})

t.test('a required url may come from the environment alone', async (t) => {
  const config = parse('upstream:\n  username: u\n', { OUTPOST_UPSTREAM_URL: 'mqtt://cloud' })
  t.equal(config.upstream?.url, 'mqtt://cloud')
  t.equal(config.upstream?.username, 'u')
})

t.test('other upstream overrides need an upstream', async (t) => {
  t.strictSame(caught(() => parse('', { OUTPOST_UPSTREAM_PASSWORD: 'p' })).issues, [{
    source: 'env OUTPOST_UPSTREAM_PASSWORD',
    path: 'upstream.password',
    message: 'upstream is not configured (null); set upstream.url or OUTPOST_UPSTREAM_URL',
  }])
})

t.test('a password from the environment is never echoed', async (t) => {
  const config = parse(WITH_UPSTREAM, { OUTPOST_UPSTREAM_PASSWORD: 'topsecret' })
  t.equal(config.upstream?.password, 'topsecret')
  const err = caught(() => parse('', { OUTPOST_UPSTREAM_PASSWORD: 'topsecret' }))
  t.notMatch(formatConfigError(err), 'topsecret')
})

t.test('no env option means no overrides, whatever process.env holds', async (t) => {
  process.env['OUTPOST_MQTT_PORT'] = '4242'
  t.teardown(() => {
    delete process.env['OUTPOST_MQTT_PORT']
  })
  t.equal(parseConfig('', { source: SOURCE }).broker.port, 1883)
  t.equal(parseConfig('', { source: SOURCE, env: process.env }).broker.port, 4242)
})
