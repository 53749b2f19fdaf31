/** "did you mean" for near misses: typos, case slips and snake_case spellings. */

function normalize(word: string): string {
  return word.toLowerCase().replace(/[-_\s]/g, '')
}

/** Edit distance where swapping two neighbours counts as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1)
      const row = d[i]
      if (row !== undefined) row[j] = best
    }
  }
  return at(a.length, b.length)
}

/** The closest candidate, if it is close enough to be a plausible typo of `word`. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const target = normalize(word)
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(target, normalize(candidate))
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  const tolerance = Math.max(1, Math.floor(target.length / 3))
  if (bestDistance <= tolerance) return best
  // A longer or shorter spelling of a value: "warning" for "warn".
  return candidates.find((candidate) => {
    const known = normalize(candidate)
    return Math.min(known.length, target.length) >= 3 && (target.startsWith(known) || known.startsWith(target))
  })
}

export function didYouMean(word: string, candidates: readonly string[]): string {
  const match = suggest(word, candidates)
  return match === undefined ? '' : ` (did you mean "${match}"?)`
}
