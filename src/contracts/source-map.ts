/**
 * Reading a contract file (YAML or JSON, which is YAML too) so that any JSON
 * pointer into the result can be named by line and column in the file.
 */
import { isCollection, LineCounter, parseDocument, type Document } from 'yaml'

export interface Located {
  line: number
  col: number
}

export interface SourceDoc {
  file: string
  value: unknown
  /** Line and column of the deepest node on `pointer`'s path that exists in the file. */
  locate(pointer: string): Located | undefined
}

export class SourceSyntaxError extends Error {
  constructor(readonly file: string, readonly where: Located | undefined, message: string) {
    super(message)
  }
}

/** `/a/b~1c` -> ['a', 'b/c'] (RFC 6901). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '#') return []
  const p = pointer.startsWith('#') ? pointer.slice(1) : pointer
  return p.split('/').slice(1).map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'))
}

export function pointerOf(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

function nodeAt(doc: Document, segments: string[]): { range?: [number, number, number] | null } | undefined {
  let node: unknown = doc.contents
  let found = node as { range?: [number, number, number] | null } | undefined
  for (const seg of segments) {
    if (!isCollection(node)) break
    const next: unknown = node.get(seg, true)
    if (next === undefined) break
    node = next
    found = next as typeof found
  }
  return found
}

export function parseSource(file: string, text: string): SourceDoc {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    const pos = first.linePos?.[0]
    throw new SourceSyntaxError(file, pos, `syntax error: ${(first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`)
  }
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new SourceSyntaxError(file, undefined, `YAML error: ${(err as Error).message}`)
  }
  return {
    file,
    value,
    locate(pointer) {
      const node = nodeAt(doc, pointerSegments(pointer))
      const offset = node?.range?.[0]
      return offset === undefined ? undefined : lineCounter.linePos(offset)
    },
  }
}
