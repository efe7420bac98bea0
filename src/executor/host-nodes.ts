// Host nodes of a session's graphs. A host node's function belongs to the guest process, so the
// driver is never given it: each node gets a function that does nothing and, as its argument, a
// key under which the guest's function and argument are kept here, so that node parameters read
// back, cloned or instantiated still say what the guest set. The guest runs the functions itself
// when it launches a graph that has host nodes (guest/cuda/impl/graph_host.c).

import koffi from 'koffi';

import { CudaError, CUDA_ERROR_OUT_OF_MEMORY } from './cuda.js';

/** Distinct (function, argument) pairs one session may give host nodes. */
const MAX_HOST_FNS = 1 << 20;

export interface GuestHostFn {
  fn: number;
  user: number;
}

let noop: number | undefined;

/**
 * The address of a function the driver may call with any argument to no effect: sched_yield takes
 * no argument, and the C calling conventions of x86-64 and aarch64 leave an extra argument unread.
 */
export function noopHostFn(): number {
  if (noop === undefined) {
    const dlsym = koffi.load('libc.so.6').func('uint64_t dlsym(uint64_t handle, const char *name)') as (h: number, n: string) => number | bigint;
    noop = Number(dlsym(0 /* RTLD_DEFAULT */, 'sched_yield'));
    if (!noop) throw new Error('sched_yield not found in the process');
  }
  return noop;
}

export class HostNodeBook {
  private readonly byKey = new Map<number, GuestHostFn>();
  private readonly keys = new Map<string, number>();
  private next = 1;

  /** The key standing for the guest's (fn, user): the same pair always has the same key. */
  key(fn: number, user: number): number {
    const name = `${fn}:${user}`;
    const known = this.keys.get(name);
    if (known !== undefined) return known;
    if (this.byKey.size >= MAX_HOST_FNS) throw new CudaError(CUDA_ERROR_OUT_OF_MEMORY, `more than ${MAX_HOST_FNS} distinct host node functions`);
    const k = this.next++;
    this.byKey.set(k, { fn, user });
    this.keys.set(name, k);
    return k;
  }

  /** The guest's function for what the driver holds (function, argument); undefined when the
   * driver's function is not the one this book gives out. */
  lookup(fn: number, arg: number): GuestHostFn | undefined {
    return fn === noopHostFn() ? this.byKey.get(arg) : undefined;
  }
}
