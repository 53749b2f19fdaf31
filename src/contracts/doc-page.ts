/**
 * A readable page (Markdown or HTML) generated from the gateway's AsyncAPI
 * document: one section per channel, its headers and payload fields as tables.
 */
type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

interface Row { field: string; type: string; required: boolean; rules: string; description: string }

function constraints(s: Obj): string {
  const parts: string[] = []
  for (const k of ['const', 'enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'format'] as const) {
    if (s[k] !== undefined) parts.push(`${k} ${k === 'enum' ? (s[k] as unknown[]).map((v) => JSON.stringify(v)).join(' | ') : JSON.stringify(s[k])}`)
  }
  if (s['additionalProperties'] === false) parts.push('no other fields')
  return parts.join(', ')
}

function typeOf(s: Obj): string {
  const t = s['type']
  if (Array.isArray(t)) return t.join(' | ')
  if (t === 'array' && isObj(s['items'])) return `array of ${typeOf(s['items'])}`
  return typeof t === 'string' ? t : 'any'
}

/** Fields of an object schema, nested ones as `a.b` and `a[].b`. */
export function fieldRows(schema: unknown, prefix = ''): Row[] {
  if (!isObj(schema) || !isObj(schema['properties'])) return []
  const required = new Set(Array.isArray(schema['required']) ? schema['required'] as string[] : [])
  const rows: Row[] = []
  for (const [name, sub] of Object.entries(schema['properties'])) {
    if (!isObj(sub)) continue
    const field = `${prefix}${name}`
    rows.push({ field, type: typeOf(sub), required: required.has(name), rules: constraints(sub), description: typeof sub['description'] === 'string' ? sub['description'] : '' })
    rows.push(...fieldRows(sub, `${field}.`))
    if (sub['type'] === 'array') rows.push(...fieldRows(sub['items'], `${field}[].`))
  }
  return rows
}

interface Section { id: string; title: string; address: string; description: string; messages: Array<{ name: string; title: string; contentType: string; contract: string; headers: Row[]; payload: Row[]; schema: unknown }> }

function sections(doc: Obj): Section[] {
  const channels = isObj(doc['channels']) ? doc['channels'] : {}
  const components = isObj(doc['components']) && isObj(doc['components']['messages']) ? doc['components']['messages'] : {}
  return Object.entries(channels).map(([id, c]) => {
    const ch = c as Obj
    const msgs = Object.values(isObj(ch['messages']) ? ch['messages'] : {}).map((ref) => {
      const key = String((ref as Obj)['$ref']).split('/').pop() ?? ''
      const m = components[key] as Obj
      const contract = m['x-outpost-contract'] as Obj
      return {
        name: String(m['name']), title: String(m['title'] ?? ''), contentType: String(m['contentType']),
        contract: `${String(contract['folder'])} (device topic \`${String(contract['deviceTopic'])}\`)`,
        headers: fieldRows(m['headers']), payload: fieldRows(m['payload']), schema: m['payload'],
      }
    })
    return { id, title: String(ch['title'] ?? id), address: String(ch['address']), description: String(ch['description'] ?? ''), messages: msgs }
  })
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function markdownPage(doc: Obj): string {
  const info = doc['info'] as Obj
  const out: string[] = [`# ${String(info['title'])}`, '', String(info['description']), '', `AsyncAPI ${String(doc['asyncapi'])}, document version ${String(info['version'])}.`, '']
  const table = (rows: Row[]): string[] => rows.length === 0 ? ['(none)', ''] : [
    '| field | type | required | rules | description |', '|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.field}\` | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(r.rules)} | ${cell(r.description)} |`), '']
  for (const s of sections(doc)) {
    out.push(`## ${s.title}`, '', `Topic: \`${s.address}\``, '')
    if (s.description) out.push(s.description, '')
    for (const m of s.messages) {
      out.push(`### Message \`${m.name}\``, '', `${m.title}. Content type \`${m.contentType}\`. Contract ${m.contract}.`, '')
      out.push('Headers:', '', ...table(m.headers), 'Payload:', '', ...table(m.payload))
      out.push('<details><summary>Payload JSON Schema</summary>', '', '```json', JSON.stringify(m.schema, null, 2), '```', '', '</details>', '')
    }
  }
  return out.join('\n')
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function htmlPage(doc: Obj): string {
  const info = doc['info'] as Obj
  const table = (rows: Row[]): string => rows.length === 0 ? '<p>(none)</p>' :
    '<table><thead><tr><th>field</th><th>type</th><th>required</th><th>rules</th><th>description</th></tr></thead><tbody>' +
    rows.map((r) => `<tr><td><code>${esc(r.field)}</code></td><td>${esc(r.type)}</td><td>${r.required ? 'yes' : ''}</td><td>${esc(r.rules)}</td><td>${esc(r.description)}</td></tr>`).join('') +
    '</tbody></table>'
  const body = sections(doc).map((s) => `<section><h2>${esc(s.title)}</h2><p>Topic: <code>${esc(s.address)}</code></p>` +
    (s.description ? `<p>${esc(s.description)}</p>` : '') +
    s.messages.map((m) => `<h3>Message <code>${esc(m.name)}</code></h3><p>${esc(m.title)}. Content type <code>${esc(m.contentType)}</code>. Contract ${esc(m.contract.replace(/`/g, ''))}.</p>` +
      `<h4>Headers</h4>${table(m.headers)}<h4>Payload</h4>${table(m.payload)}` +
      `<details><summary>Payload JSON Schema</summary><pre>${esc(JSON.stringify(m.schema, null, 2))}</pre></details>`).join('') +
    '</section>').join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(String(info['title']))}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}code,pre{background:#f4f4f4}pre{padding:.5rem;overflow:auto}</style>
</head><body><h1>${esc(String(info['title']))}</h1><p>${esc(String(info['description']))}</p>
<p>AsyncAPI ${esc(String(doc['asyncapi']))}, document version ${esc(String(info['version']))}.</p>
${body}
</body></html>
`
}
