/**
 * The publishes awaiting a PUBACK, by packet identifier (1-65535): one array
 * slot per identifier, so a publish costs no map entry (a map with thousands
 * of entries set and deleted per second kept allocating new tables). Ids are
 * given in turn, skipping those still in use. Pure.
 */
export class PacketIds<T> {
  private slots: Array<T | undefined> = emptySlots()
  private next = 1
  /** Identifiers in use. */
  size = 0

  /** Hold `value` under a free identifier and return it; throws when all 65535 are in use. */
  claim(value: T): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.next
      this.next = id === 65535 ? 1 : id + 1
      if (this.slots[id] === undefined) {
        this.slots[id] = value
        this.size++
        return id
      }
    }
    throw new Error('no free packet identifier')
  }

  /** The value held under `id`, which is free again; undefined when none was. */
  release(id: number): T | undefined {
    if (!(id >= 1 && id <= 65535)) return undefined
    const value = this.slots[id]
    if (value !== undefined) {
      this.slots[id] = undefined
      this.size--
    }
    return value
  }

  clear(): void {
    this.slots = emptySlots()
    this.size = 0
  }
}

const emptySlots = <T>(): Array<T | undefined> => new Array<T | undefined>(65536).fill(undefined)
