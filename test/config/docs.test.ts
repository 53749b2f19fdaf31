// docs/configuration.md must describe every key of the schema as the schema does:
// what it accepts, its default and its environment variable.
import { readFileSync } from 'node:fs'
import type { TSchema } from '@sinclair/typebox'
import t from 'tap'
import { ConfigError, ENV_OVERRIDES, formatConfigError, OutpostSchema, parseConfig } from '../../src/config/index.js'
import { describe } from '../../src/config/describe.js'

const DOCS = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')

/** Every documented key: leaves, and sections that may be null. Plain sections only group keys. */
function keys(schema: TSchema, prefix = ''): [string, TSchema][] {
  const properties = schema['properties'] as Record<string, TSchema> | undefined
  if (properties === undefined) return [[prefix, schema]]
  const own: [string, TSchema][] = prefix !== '' && Array.isArray(schema['type']) ? [[prefix, schema]] : []
  return own.concat(...Object.entries(properties).map(([key, child]) => keys(child, prefix === '' ? key : `${prefix}.${key}`)))
}

function row(path: string): string[] | undefined {
  const line = DOCS.split('\n').find((l) => l.startsWith(`| \`${path}\` |`))
  return line?.split('|').slice(1, -1).map((cell) => cell.trim())
}

t.test('every key has a row with what it accepts, its default and its env var', async (t) => {
  const envByPath = new Map(Object.entries(ENV_OVERRIDES).map(([name, path]) => [path as string, name]))
  const all = keys(OutpostSchema)
  t.equal(all.length, 61, '59 leaves and the two sections that may be null')
  for (const [path, schema] of all) {
    const cells = row(path)
    if (cells === undefined) {
      t.fail(`${path} is not documented`)
      continue
    }
    const [, accepts, defaultValue, env] = cells
    t.equal(accepts, describe(schema), `${path}: accepts`)
    t.equal(defaultValue, 'default' in schema ? `\`${JSON.stringify(schema['default'])}\`` : '(required)', `${path}: default`)
    const name = envByPath.get(path)
    t.equal(env, name === undefined ? '' : `\`${name}\``, `${path}: env`)
  }
})

t.test('the docs document no key that does not exist', async (t) => {
  const known = new Set(keys(OutpostSchema).map(([path]) => path))
  const documented = [...DOCS.matchAll(/^\| `([a-zA-Z.]+)` \| /gm)].map((m) => m[1] ?? '')
  const keyRows = documented.filter((path) => !path.startsWith('OUTPOST_'))
  t.strictSame(keyRows.filter((path) => !known.has(path)), [])
})

t.test('the env table lists ENV_OVERRIDES exactly', async (t) => {
  const rows = [...DOCS.matchAll(/^\| `(OUTPOST_[A-Z_]+)` \| `([a-zA-Z.]+)` \|$/gm)].map((m) => [m[1], m[2]])
  t.strictSame(rows, Object.entries(ENV_OVERRIDES))
})

t.test('the error example in the docs is what Outpost prints', async (t) => {
  const text = 'broker:\n  prot: 1884\nlog:\n  level: warning\nforward:\n  include: ["sensors/#/temp"]\nupstream:\n  username: edge\n'
  let output = ''
  try {
    parseConfig(text, { source: 'config/outpost.yaml', env: { OUTPOST_MQTT_PORT: 'abc' } })
  } catch (err) {
    output = formatConfigError(err as ConfigError)
  }
  t.match(output, /^invalid configuration \(5 problems\):/)
  t.ok(DOCS.includes(`\`\`\`\n${output}\n\`\`\``), 'docs/configuration.md shows the output verbatim')
})
