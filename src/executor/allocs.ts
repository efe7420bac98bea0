// The device allocations a session owns, sorted by address, so every device pointer and range the
// guest names can be checked in O(log n) before the driver sees it.

import { CudaError, CUDA_ERROR_INVALID_VALUE } from './cuda.js';

export class AllocMap {
  private bases: number[] = [];
  private sizes: number[] = [];
  /** Ranges the session may use but not free (module globals); they do not count as allocated. */
  private fixed: boolean[] = [];
  total = 0;

  /** Allocations (not fixed ranges) still held. */
  get count(): number {
    return this.fixed.filter((f) => !f).length;
  }

  /** Index of the last allocation whose base is <= p, or -1. */
  private floor(p: number): number {
    let lo = 0;
    let hi = this.bases.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.bases[mid]! <= p) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  add(base: number, size: number, fixed = false): void {
    const i = this.floor(base) + 1;
    this.bases.splice(i, 0, base);
    this.sizes.splice(i, 0, size);
    this.fixed.splice(i, 0, fixed);
    if (!fixed) this.total += size;
  }

  /** Adds a range the session may read and write but not free, unless it is known already. */
  addFixed(base: number, size: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base) return;
    this.add(base, size, true);
  }

  removeFixed(base: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base && this.fixed[i]) {
      this.bases.splice(i, 1);
      this.sizes.splice(i, 1);
      this.fixed.splice(i, 1);
    }
  }

  /** Size of the allocation starting exactly at base, or undefined. */
  sizeAt(base: number): number | undefined {
    const i = this.floor(base);
    return i >= 0 && this.bases[i] === base && !this.fixed[i] ? this.sizes[i] : undefined;
  }

  remove(base: number): number {
    const i = this.floor(base);
    if (i < 0 || this.bases[i] !== base || this.fixed[i]) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `0x${base.toString(16)} is not an allocation of this session`);
    const size = this.sizes[i]!;
    this.bases.splice(i, 1);
    this.sizes.splice(i, 1);
    this.fixed.splice(i, 1);
    this.total -= size;
    return size;
  }

  /** Throws INVALID_VALUE unless [p, p+n) lies inside one allocation (n = 0 is checked as 1). */
  /** An empty range touches no memory: the driver accepts any address for it. */
  check(p: number, n: number): void {
    if (n === 0) return;
    const i = this.floor(p);
    if (i >= 0 && Number.isSafeInteger(n) && p + n <= this.bases[i]! + this.sizes[i]!) return;
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `device range 0x${p.toString(16)}+${n} is not inside an allocation of this session`);
  }

  entries(): Array<[number, number]> {
    return this.bases.map((b, i) => [b, this.sizes[i]!]);
  }
}
