/**
 * Which sequence numbers of one stream were seen, within a sliding window of
 * the `size` highest numbers: one bit each, in a ring (size / 8 bytes).
 *
 * - seq above the highest seen: new; the window slides up to it.
 * - seq within (highest - size, highest]: new or duplicate, exactly.
 * - seq at or below highest - size: out of window, unknown (the caller decides).
 */
export type SeqVerdict = 'new' | 'duplicate' | 'out-of-window'

export class SeqWindow {
  readonly size: number
  private readonly bits: Uint8Array
  private high = -1

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 8 || size % 8 !== 0) throw new RangeError(`window size must be a positive multiple of 8, got ${size}`)
    this.size = size
    this.bits = new Uint8Array(size / 8)
  }

  /** The highest sequence number marked, -1 before the first. */
  get highest(): number {
    return this.high
  }

  /** What mark(seq) would answer, without marking. */
  peek(seq: number): SeqVerdict {
    if (this.high < 0 || seq > this.high) return 'new'
    if (seq <= this.high - this.size) return 'out-of-window'
    return this.test(seq) ? 'duplicate' : 'new'
  }

  /** Record seq as seen; returns what it was before. */
  mark(seq: number): SeqVerdict {
    const verdict = this.peek(seq)
    if (verdict !== 'new') return verdict
    if (seq > this.high) this.slideTo(seq)
    const slot = seq % this.size
    this.bits[slot >>> 3] = (this.bits[slot >>> 3] as number) | (1 << (slot & 7))
    return 'new'
  }

  /** The marked sequence numbers still in the window, ascending. */
  marked(): number[] {
    const out: number[] = []
    if (this.high < 0) return out
    for (let seq = Math.max(0, this.high - this.size + 1); seq <= this.high; seq++) {
      if (this.test(seq)) out.push(seq)
    }
    return out
  }

  private test(seq: number): boolean {
    const slot = seq % this.size
    return ((this.bits[slot >>> 3] as number) & (1 << (slot & 7))) !== 0
  }

  /** Forget the slots that the numbers (high, seq] take over. */
  private slideTo(seq: number): void {
    if (this.high < 0 || seq - this.high >= this.size) {
      this.bits.fill(0)
    } else {
      for (let s = this.high + 1; s <= seq; s++) {
        const slot = s % this.size
        this.bits[slot >>> 3] = (this.bits[slot >>> 3] as number) & ~(1 << (slot & 7))
      }
    }
    this.high = seq
  }
}
