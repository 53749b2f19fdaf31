/**
 * Local `$ref` resolution inside one AsyncAPI document (`#/components/...`).
 * References to other files or URLs are refused: a contract folder is
 * self-contained, so what was published is exactly what is validated.
 */
import { pointerSegments } from './source-map.js'

export class RefError extends Error {
  constructor(readonly pointer: string, message: string) {
    super(message)
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function resolvePointer(root: unknown, ref: string, at: string): unknown {
  if (!ref.startsWith('#')) throw new RefError(at, `$ref "${ref}": only references inside the same document ("#/...") are supported`)
  let node: unknown = root
  for (const seg of pointerSegments(ref)) {
    if (Array.isArray(node)) node = node[Number(seg)]
    else if (isObject(node)) node = node[seg]
    else node = undefined
    if (node === undefined) throw new RefError(at, `$ref "${ref}" points to nothing`)
  }
  return node
}

/** Follows `$ref` chains at this node (not inside it). */
export function follow(root: unknown, node: unknown, at: string): { value: unknown; pointer: string } {
  let pointer = at
  let value = node
  for (let hops = 0; isObject(value) && typeof value['$ref'] === 'string'; hops++) {
    if (hops > 32) throw new RefError(at, '$ref chain too long (a cycle?)')
    const ref = value['$ref']
    value = resolvePointer(root, ref, pointer)
    pointer = ref.slice(1)
  }
  return { value, pointer }
}

/**
 * A copy of `node` with every `$ref` inlined and `x-` extension keys dropped
 * (ajv compiles it in strict mode, so a misspelt keyword is an error).
 * Recursive schemas are refused.
 */
export function inlineRefs(root: unknown, node: unknown, at: string, stack: readonly string[] = []): unknown {
  if (Array.isArray(node)) return node.map((v, i) => inlineRefs(root, v, `${at}/${i}`, stack))
  if (!isObject(node)) return node
  if (typeof node['$ref'] === 'string') {
    const ref = node['$ref']
    if (stack.includes(ref)) throw new RefError(at, `$ref "${ref}" is recursive; recursive payload schemas are not supported`)
    return inlineRefs(root, resolvePointer(root, ref, at), ref.slice(1), [...stack, ref])
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-')) continue
    out[k] = inlineRefs(root, v, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, stack)
  }
  return out
}
