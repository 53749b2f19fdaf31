/**
 * Loads every device folder under the contracts directory, checks each
 * AsyncAPI document against the official 3.0.0 schema and the rules the
 * gateway adds, and compiles the payload validators. Every problem is
 * collected and reported with file, JSON pointer, line and column.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { asyncapiProblems } from './asyncapi-validate.js'
import { ContractError, type ContractIssue } from './contract-error.js'
import { follow, inlineRefs, RefError } from './deref.js'
import { compilePayloadSchema } from './payload-ajv.js'
import { clientMatcher, profileProblems, type Profile } from './profile.js'
import { parseSource, pointerOf, pointerSegments, SourceSyntaxError, type SourceDoc } from './source-map.js'
import { parseAddress } from './topic-pattern.js'
import { CONTENT_TYPES, type ChannelSpec, type ContentType, type Contract, type MessageSpec } from './types.js'

export const FOLDER_PATTERN = /^([a-z0-9][a-z0-9-]*)-v(\d+)$/
export const TEMPLATE_FIXED = ['gatewayId', 'clientId', 'deviceType', 'version'] as const
const JSON_SCHEMA_FORMATS = /^application\/(schema\+json|schema\+yaml|vnd\.aai\.asyncapi(\+json|\+yaml)?)(;|$)/

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function findFile(dir: string, base: string): string | undefined {
  for (const ext of ['yaml', 'yml', 'json']) {
    const file = join(dir, `${base}.${ext}`)
    if (existsSync(file)) return file
  }
  return undefined
}

export function normaliseContentType(raw: string): ContentType | undefined {
  const type = raw.split(';')[0]!.trim().toLowerCase()
  if ((CONTENT_TYPES as readonly string[]).includes(type)) return type as ContentType
  if (type.endsWith('+json')) return 'application/json'
  if (type.endsWith('+cbor')) return 'application/cbor'
  return undefined
}

class Issues {
  readonly list: ContractIssue[] = []
  constructor(private readonly cwd: string) {}
  rel(file: string): string {
    return relative(this.cwd, file) || '.'
  }
  add(source: SourceDoc | string, pointer: string | undefined, message: string): void {
    const file = this.rel(typeof source === 'string' ? source : source.file)
    const at = typeof source === 'string' || pointer === undefined ? undefined : source.locate(pointer)
    this.list.push({ file, ...(pointer === undefined ? {} : { pointer }), ...(at ? { line: at.line, col: at.col } : {}), message })
  }
}

function readSource(file: string, issues: Issues): SourceDoc | undefined {
  try {
    return parseSource(file, readFileSync(file, 'utf8'))
  } catch (err) {
    if (err instanceof SourceSyntaxError) {
      issues.list.push({ file: issues.rel(file), ...(err.where ? { line: err.where.line, col: err.where.col } : {}), message: err.message })
    } else {
      issues.add(file, undefined, `cannot read: ${(err as Error).message}`)
    }
    return undefined
  }
}

/** Builds one contract from its parsed, schema-valid document and profile. Adds issues; undefined when any. */
function buildContract(folder: string, dir: string, doc: SourceDoc, prof: SourceDoc, issues: Issues): Contract | undefined {
  const before = issues.list.length
  const root = doc.value as Obj
  const profile = prof.value as Profile
  const [, type, major] = FOLDER_PATTERN.exec(folder)!
  const info = root['info'] as Obj
  const version = String(info['version'])
  if (profile.deviceType !== type) issues.add(prof, '/deviceType', `deviceType "${profile.deviceType}" does not match the folder name "${folder}" (expected "${type}")`)
  if (version.split('.')[0] !== major) issues.add(doc, '/info/version', `info.version "${version}" does not match the folder's major version v${major}`)

  const fail = (pointer: string, message: string): void => issues.add(doc, pointer, message)
  const deref = (node: unknown, at: string): { value: unknown; pointer: string } | undefined => {
    try {
      return follow(root, node, at)
    } catch (err) {
      if (err instanceof RefError) fail(err.pointer, err.message)
      else throw err
      return undefined
    }
  }
  const defaultType = typeof root['defaultContentType'] === 'string' ? root['defaultContentType'] : undefined

  const channels = new Map<string, ChannelSpec>()
  const channelByPointer = new Map<string, string>()
  for (const [id, raw] of Object.entries(isObj(root['channels']) ? root['channels'] : {})) {
    const at = pointerOf(['channels', id])
    const ch = deref(raw, at)
    if (!ch || !isObj(ch.value)) continue
    channelByPointer.set(at, id)
    channelByPointer.set(ch.pointer, id)
    const c = ch.value
    if (typeof c['address'] !== 'string') {
      fail(`${ch.pointer}/address`, 'a channel needs an address (the MQTT topic pattern)')
      continue
    }
    const pattern = parseAddress(c['address'])
    if (typeof pattern === 'string') {
      fail(`${ch.pointer}/address`, pattern)
      continue
    }
    const declared = isObj(c['parameters']) ? c['parameters'] : {}
    const allowed = new Map<string, Set<string>>()
    for (const p of pattern.params) {
      const param = deref(declared[p], `${ch.pointer}/parameters/${p}`)
      if (declared[p] === undefined || !param) {
        fail(`${ch.pointer}/address`, `parameter {${p}} is not declared in the channel's parameters`)
        continue
      }
      if (isObj(param.value) && Array.isArray(param.value['enum'])) allowed.set(p, new Set(param.value['enum'].map(String)))
    }
    for (const p of Object.keys(declared)) {
      if (!pattern.params.includes(p)) fail(`${ch.pointer}/parameters/${p}`, `parameter "${p}" does not appear in the address`)
    }
    const messages: MessageSpec[] = []
    for (const [mid, mraw] of Object.entries(isObj(c['messages']) ? c['messages'] : {})) {
      const m = deref(mraw, `${ch.pointer}/messages/${mid}`)
      if (!m || !isObj(m.value)) continue
      const msg = buildMessage(root, mid, m.value, m.pointer, defaultType, fail, deref)
      if (msg) messages.push(msg)
    }
    if (messages.length === 0 && issues.list.length === before) fail(`${ch.pointer}/messages`, 'a channel needs at least one message with a payload schema')
    channels.set(id, {
      id, address: c['address'], pattern, messages, devicePublishes: false,
      ...(typeof c['description'] === 'string' ? { description: c['description'] } : {}),
      ...(allowed.size > 0 ? { allowed } : {}),
    })
  }

  // Which channels the device publishes on: send operations and replies of receive operations.
  const channelOf = (ref: unknown, at: string): string | undefined => {
    const r = isObj(ref) && typeof ref['$ref'] === 'string' ? ref['$ref'].slice(1) : undefined
    const id = r === undefined ? undefined : channelByPointer.get(r)
    if (id === undefined) fail(at, 'must reference one of this document\'s channels ("#/channels/<id>")')
    return id
  }
  for (const [oid, raw] of Object.entries(isObj(root['operations']) ? root['operations'] : {})) {
    const op = deref(raw, pointerOf(['operations', oid]))
    if (!op || !isObj(op.value)) continue
    const o = op.value
    const chId = channelOf(o['channel'], `${op.pointer}/channel`)
    if (chId === undefined) continue
    if (o['action'] === 'send') channels.get(chId)!.devicePublishes = true
    const reply = isObj(o['reply']) ? deref(o['reply'], `${op.pointer}/reply`) : undefined
    if (reply && isObj(reply.value) && reply.value['channel'] !== undefined) {
      const replyId = channelOf(reply.value['channel'], `${reply.pointer}/channel`)
      if (replyId !== undefined && o['action'] === 'receive') {
        channels.get(replyId)!.devicePublishes = true
        channels.get(chId)!.replyChannel = replyId
      }
    }
  }
  if (profile.publish !== undefined) {
    for (const ch of channels.values()) ch.devicePublishes = false
    profile.publish.forEach((id, i) => {
      const ch = channels.get(id)
      if (ch) ch.devicePublishes = true
      else issues.add(prof, `/publish/${i}`, `no channel "${id}" in asyncapi document (channels: ${[...channels.keys()].join(', ')})`)
    })
  }
  for (const [id, template] of Object.entries(profile.upstream ?? {})) {
    const ch = channels.get(id)
    if (!ch) {
      issues.add(prof, pointerOf(['upstream', id]), `no channel "${id}" in the asyncapi document (channels: ${[...channels.keys()].join(', ')})`)
      continue
    }
    const known = [...TEMPLATE_FIXED, ...ch.pattern.params]
    for (const [, name] of template.matchAll(/\{([^{}]*)\}/g)) {
      if (!known.includes(name!)) issues.add(prof, pointerOf(['upstream', id]), `unknown placeholder {${name!}}; known: ${known.map((k) => `{${k}}`).join(' ')}`)
    }
    const literal = template.replace(/\{[^{}]*\}/g, '')
    if (/[{}+#\u0000]/.test(literal)) issues.add(prof, pointerOf(['upstream', id]), 'a topic template must not contain "+", "#", U+0000 or unbalanced braces')
    ch.upstream = template
  }
  if (![...channels.values()].some((c) => c.devicePublishes) && issues.list.length === before) {
    fail('/operations', 'no channel the device publishes on: add a "send" operation (or list channels under "publish" in the profile)')
  }
  if (issues.list.length > before) return undefined
  const matches = clientMatcher(profile.clients)
  return {
    folder, dir, deviceType: profile.deviceType, version, title: String(info['title']),
    ...(typeof info['description'] === 'string' ? { description: info['description'] } : {}),
    profile, channels: [...channels.values()], matchesClient: matches,
  }
}

function buildMessage(root: Obj, id: string, m: Obj, at: string, defaultType: string | undefined,
  fail: (pointer: string, message: string) => void,
  deref: (node: unknown, at: string) => { value: unknown; pointer: string } | undefined): MessageSpec | undefined {
  const rawType = typeof m['contentType'] === 'string' ? m['contentType'] : defaultType
  if (rawType === undefined) {
    fail(at, 'no contentType on the message and no defaultContentType in the document')
    return undefined
  }
  const contentType = normaliseContentType(rawType)
  if (contentType === undefined) {
    fail(typeof m['contentType'] === 'string' ? `${at}/contentType` : '/defaultContentType', `content type "${rawType}" is not supported (use application/json or application/cbor)`)
    return undefined
  }
  if (m['payload'] === undefined) {
    fail(at, 'a message needs a payload schema')
    return undefined
  }
  let payloadAt = `${at}/payload`
  let payload: unknown = m['payload']
  const resolved = deref(payload, payloadAt)
  if (!resolved) return undefined
  if (isObj(resolved.value) && 'schemaFormat' in resolved.value) {
    const format = String(resolved.value['schemaFormat'])
    if (!JSON_SCHEMA_FORMATS.test(format)) {
      fail(`${resolved.pointer}/schemaFormat`, `schema format "${format}" is not supported (JSON Schema or the AsyncAPI schema format)`)
      return undefined
    }
    payload = resolved.value['schema']
    payloadAt = `${resolved.pointer}/schema`
  }
  let schema: unknown
  try {
    schema = inlineRefs(root, payload, payloadAt)
  } catch (err) {
    if (err instanceof RefError) fail(err.pointer, err.message)
    else throw err
    return undefined
  }
  let validate
  try {
    validate = compilePayloadSchema(schema)
  } catch (err) {
    fail(payloadAt, `payload schema does not compile: ${(err as Error).message}`)
    return undefined
  }
  const spec: MessageSpec = {
    id, name: typeof m['name'] === 'string' ? m['name'] : id, contentType, payloadSchema: schema, validate,
    ...(typeof m['title'] === 'string' ? { title: m['title'] } : {}),
  }
  if (m['correlationId'] !== undefined) {
    const corr = deref(m['correlationId'], `${at}/correlationId`)
    if (!corr || !isObj(corr.value)) return undefined
    const location = String(corr.value['location'])
    const hash = location.indexOf('#')
    if (!location.startsWith('$message.payload#') || hash < 0) {
      fail(`${corr.pointer}/location`, `correlation id location "${location}" is not supported: MQTT 3.1.1 devices send no headers, use "$message.payload#/<path>"`)
      return undefined
    }
    spec.correlationLocation = location
    spec.correlationPath = pointerSegments(location.slice(hash + 1))
  }
  return spec
}

/** One folder: its contract, or the problems found in it. */
export function loadContractFolder(dir: string, folder: string, issues: Issues): Contract | undefined {
  const path = join(dir, folder)
  if (!FOLDER_PATTERN.test(folder)) {
    issues.add(path, undefined, 'a device folder is named <device-type>-v<major>, e.g. "thermometer-v1" (lower-case letters, digits, "-")')
    return undefined
  }
  const docFile = findFile(path, 'asyncapi')
  const profFile = findFile(path, 'profile')
  if (!docFile) issues.add(path, undefined, 'no asyncapi.yaml (or .yml, .json) in the folder')
  if (!profFile) issues.add(path, undefined, 'no profile.yaml (or .yml, .json) in the folder')
  if (!docFile || !profFile) return undefined
  const doc = readSource(docFile, issues)
  const prof = readSource(profFile, issues)
  if (!doc || !prof) return undefined
  const before = issues.list.length
  for (const p of asyncapiProblems(doc.value)) issues.add(doc, p.pointer, `AsyncAPI 3.0.0 schema: ${p.message}`)
  for (const p of profileProblems(prof.value)) issues.add(prof, p.pointer, p.message)
  if (issues.list.length > before) return undefined
  return buildContract(folder, path, doc, prof, issues)
}

/**
 * Every contract under `dir` (one sub-folder per device type and version).
 * Throws ContractError listing every problem; the gateway does not start.
 */
export function loadContracts(dir: string, opts: { cwd?: string } = {}): Contract[] {
  const issues = new Issues(opts.cwd ?? process.cwd())
  let entries: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory')
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort()
  } catch (err) {
    issues.add(dir, undefined, `cannot read the contracts directory: ${(err as Error).message}`)
    throw new ContractError(issues.list)
  }
  const contracts: Contract[] = []
  for (const folder of entries) {
    const c = loadContractFolder(dir, folder, issues)
    if (c) contracts.push(c)
  }
  if (issues.list.length > 0) throw new ContractError(issues.list)
  return contracts
}

export type { Issues }
