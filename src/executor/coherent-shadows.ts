// The executor's copy of what the guest last knew of each range of coherent memory (managed and
// mapped page-locked memory, docs/managed-memory.md), by the range's device address. With it a
// refresh sends the guest only the pages the device changed since the guest last saw them, instead
// of the whole range. A shadow is only ever a hint: the guest merges against its own copy, so a
// stale or missing one costs bytes, never correctness.

import type { AllocMap } from './allocs.js';

export class CoherentShadows {
  private readonly byBase = new Map<number, Buffer>();

  /** Bytes held for all ranges (executor memory, not device memory). */
  get bytes(): number {
    let n = 0;
    for (const b of this.byBase.values()) n += b.length;
    return n;
  }

  /** Whether [base, base+size) has a shadow, that is, the guest already holds a copy of it. */
  has(base: number, size: number, allocs: AllocMap): boolean {
    return allocs.contains(base) && this.byBase.get(base)?.length === size;
  }

  /** The shadow of [base, base+size): zeros when new, as a fresh coherent range is. Shadows of
   * ranges whose allocation is gone are dropped first. */
  of(base: number, size: number, allocs: AllocMap): Buffer {
    for (const b of this.byBase.keys()) if (!allocs.contains(b)) this.byBase.delete(b);
    let s = this.byBase.get(base);
    if (s?.length !== size) {
      s = Buffer.alloc(size);
      this.byBase.set(base, s);
    }
    return s;
  }
}
