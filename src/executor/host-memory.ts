// Reads bytes of this process's memory at an address a driver gave as a number. Managed memory
// (a module's __managed__ variables) is host memory of the executor as well as device memory, and
// can be read this way when no context is current, which the driver's copies would need.

import koffi from 'koffi';

type Memcpy = (dst: Buffer, src: number, n: number) => unknown;

let memcpy: Memcpy | undefined;

/** A copy of the n bytes at addr. The caller vouches that they are readable memory. */
export function readHostMemory(addr: number, n: number): Buffer {
  memcpy ??= koffi.load('libc.so.6').func('void *memcpy(_Out_ uint8_t *dst, uint64_t src, size_t n)') as Memcpy;
  const out = Buffer.alloc(n);
  if (n > 0) memcpy(out, addr, n);
  return out;
}
