// The device allocations a session owns, sorted by address, so every device pointer and range the
// guest names can be checked in O(log n) before the driver sees it. Each allocation remembers the
// context whose destruction frees it, so cuCtxDestroy and cuDevicePrimaryCtxReset give its bytes
// back to the quota. Besides allocations it holds ranges the session may use but not free: module
// globals ('fixed') and the mappings of its virtual memory reservations ('mapped', cuMemMap), which
// are counted through their physical allocations instead (src/executor/custom/vmm.ts).

import { CudaError, CUDA_ERROR_INVALID_VALUE } from './cuda.js';

/** The owner of what no context's destruction frees (remote context ids start at 0x1000). */
export const NO_CONTEXT = 0;

/** An allocation of the session, a module global, or a mapping of one of its reservations. */
export type RangeKind = 'alloc' | 'fixed' | 'mapped';

/** Told of every range added and dropped (the native hot path's mirror, src/executor/hot-path.ts). */
export interface RangeWatcher {
  rangeAdded(base: number, size: number): void;
  rangeRemoved(base: number, size: number): void;
}

export class AllocMap {
  watcher: RangeWatcher | undefined;
  private bases: number[] = [];
  private sizes: number[] = [];
  /** What each entry is: ranges other than 'alloc' may be used but not freed, and do not count
   * as allocated. */
  private kinds: RangeKind[] = [];
  /** The context id whose destruction frees each allocation; NO_CONTEXT for those that outlive
   * their context (stream-ordered ones belong to their memory pool) and for fixed ranges. */
  private owners: number[] = [];
  total = 0;

  /** Allocations (not fixed ranges) still held. */
  get count(): number {
    return this.kinds.filter((k) => k === 'alloc').length;
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

  add(base: number, size: number, owner = NO_CONTEXT, kind: RangeKind = 'alloc'): void {
    const i = this.floor(base) + 1;
    this.bases.splice(i, 0, base);
    this.sizes.splice(i, 0, size);
    this.kinds.splice(i, 0, kind);
    this.owners.splice(i, 0, owner);
    if (kind === 'alloc') this.total += size;
    this.watcher?.rangeAdded(base, size);
  }

  /** Adds a range the session may read and write but not free, unless it is known already. */
  addFixed(base: number, size: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base) return;
    this.add(base, size, NO_CONTEXT, 'fixed');
  }

  removeFixed(base: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base && this.kinds[i] === 'fixed') this.drop(i);
  }

  /** A mapping of a reservation (cuMemMap): usable, not freeable, counted elsewhere. */
  addMapped(base: number, size: number): void {
    this.add(base, size, NO_CONTEXT, 'mapped');
  }

  removeMapped(base: number): void {
    const i = this.floor(base);
    if (i >= 0 && this.bases[i] === base && this.kinds[i] === 'mapped') this.drop(i);
  }

  private drop(i: number): void {
    this.watcher?.rangeRemoved(this.bases[i]!, this.sizes[i]!);
    this.bases.splice(i, 1);
    this.sizes.splice(i, 1);
    this.kinds.splice(i, 1);
    this.owners.splice(i, 1);
  }

  /** Size of the allocation starting exactly at base, or undefined. */
  sizeAt(base: number): number | undefined {
    const i = this.floor(base);
    return i >= 0 && this.bases[i] === base && this.kinds[i] === 'alloc' ? this.sizes[i] : undefined;
  }

  remove(base: number): number {
    const i = this.floor(base);
    if (i < 0 || this.bases[i] !== base || this.kinds[i] !== 'alloc') throw new CudaError(CUDA_ERROR_INVALID_VALUE, `0x${base.toString(16)} is not an allocation of this session`);
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
      if (this.kinds[i] === 'alloc' && this.owners[i] === owner) {
        freed += this.sizes[i]!;
        this.watcher?.rangeRemoved(this.bases[i]!, this.sizes[i]!);
        continue;
      }
      this.bases[j] = this.bases[i]!;
      this.sizes[j] = this.sizes[i]!;
      this.kinds[j] = this.kinds[i]!;
      this.owners[j] = this.owners[i]!;
      j++;
    }
    this.bases.length = this.sizes.length = this.kinds.length = this.owners.length = j;
    this.total -= freed;
    return freed;
  }

  /** Throws INVALID_VALUE unless [p, p+n) lies inside one allocation, or inside adjacent mappings
   * (the driver makes a reservation's neighbouring mappings one contiguous range). An empty range
   * touches no memory: the driver accepts any address for it. */
  check(p: number, n: number): void {
    if (n === 0) return;
    let i = this.floor(p);
    if (i >= 0 && Number.isSafeInteger(n) && p < this.bases[i]! + this.sizes[i]!) {
      let end = this.bases[i]! + this.sizes[i]!;
      while (p + n > end && this.kinds[i] === 'mapped' && this.kinds[i + 1] === 'mapped' && this.bases[i + 1] === end) {
        i++;
        end += this.sizes[i]!;
      }
      if (p + n <= end) return;
    }
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
