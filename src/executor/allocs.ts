// The device allocations a session owns, sorted by address, so every device pointer and range the
// guest names can be checked in O(log n) before the driver sees it. Each allocation remembers the
// context whose destruction frees it, so cuCtxDestroy and cuDevicePrimaryCtxReset give its bytes
// back to the quota.

import { CudaError, CUDA_ERROR_INVALID_VALUE } from './cuda.js';

/** The owner of what no context's destruction frees (remote context ids start at 0x1000). */
export const NO_CONTEXT = 0;

export class AllocMap {
  private bases: number[] = [];
  private sizes: number[] = [];
  /** Ranges the session may use but not free (module globals); they do not count as allocated. */
  private fixed: boolean[] = [];
  /** The context id whose destruction frees each allocation; NO_CONTEXT for those that outlive
   * their context (stream-ordered ones belong to their memory pool) and for fixed ranges. */
  private owners: number[] = [];
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

  add(base: number, size: number, owner = NO_CONTEXT, fixed = false): void {
    const i = this.floor(base) + 1;
    this.bases.splice(i, 0, base);
    this.sizes.splice(i, 0, size);
    this.fixed.splice(i, 0, fixed);
    this.owners.splice(i, 0, owner);
    if (!fixed) this.total += size;
  }

  /** Adds a range the session may read and write but not free, unless it is known already. */
  addFixed(base: number, size: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base) return;
    this.add(base, size, NO_CONTEXT, true);
  }

  removeFixed(base: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base && this.fixed[i]) this.drop(i);
  }

  private drop(i: number): void {
    this.bases.splice(i, 1);
    this.sizes.splice(i, 1);
    this.fixed.splice(i, 1);
    this.owners.splice(i, 1);
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
    this.drop(i);
    this.total -= size;
    return size;
  }

  /** Forgets every allocation that `owner`'s destruction freed; returns how many bytes they held. */
  removeOwnedBy(owner: number): number {
    if (owner === NO_CONTEXT) return 0;
    let freed = 0;
    let j = 0;
    for (let i = 0; i < this.bases.length; i++) {
      if (!this.fixed[i] && this.owners[i] === owner) {
        freed += this.sizes[i]!;
        continue;
      }
      this.bases[j] = this.bases[i]!;
      this.sizes[j] = this.sizes[i]!;
      this.fixed[j] = this.fixed[i]!;
      this.owners[j] = this.owners[i]!;
      j++;
    }
    this.bases.length = this.sizes.length = this.fixed.length = this.owners.length = j;
    this.total -= freed;
    return freed;
  }

  /** Throws INVALID_VALUE unless [p, p+n) lies inside one allocation (n = 0 is checked as 1). */
  /** An empty range touches no memory: the driver accepts any address for it. */
  check(p: number, n: number): void {
    if (n === 0) return;
    const i = this.floor(p);
    if (i >= 0 && Number.isSafeInteger(n) && p + n <= this.bases[i]! + this.sizes[i]!) return;
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `device range 0x${p.toString(16)}+${n} is not inside an allocation of this session`);
  }

  /** Whether p lies inside an allocation or fixed range of the session. */
  contains(p: number): boolean {
    const i = this.floor(p);
    return i >= 0 && p < this.bases[i]! + this.sizes[i]!;
  }

  entries(): Array<[number, number]> {
    return this.bases.map((b, i) => [b, this.sizes[i]!]);
  }
}
