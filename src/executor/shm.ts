// Shared memory for bulk copies (docs/protocol.md, "Shared memory"). A same-host guest hands its
// executor a memfd once (SCM_RIGHTS on its own connection, read here natively: libuv's reads
// would drop the descriptor); a VM's executor maps the VM's ivshmem host file named in the store.
// Copies then name (offset, length) in the region instead of carrying the bytes, and the executor
// hands the driver a view of the mapping: no copy through the socket and none in JavaScript.
//
// The region's size is what this process mapped (never the guest's word), and every use is
// checked against it. A guest's memfd must be sealed against shrinking, so the guest cannot cut
// the file under the mapping and make the executor fault on a later access.

import koffi from 'koffi';

import { ProtocolError } from '../protocol/errors.js';
import { CUDA_ERROR_INVALID_VALUE, CudaError } from './cuda.js';

/** Largest region the executor maps (the guest's VGPU_SHM_SIZE is at most this). */
export const SHM_MAX_BYTES = 64 * 1024 ** 3;

/** The byte the guest sends with its descriptor, outside any frame. */
const SHM_FD_BYTE = 0x53;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SEEK_END = 2;
const F_GET_SEALS = 1034;
const F_SEAL_SHRINK = 2;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EAGAIN = 11;
/** The control buffer: room for a few descriptors, so extra ones are received (and closed) rather
 * than truncated away. */
const CONTROL_BYTES = 64;

interface Libc {
  recvmsg: (fd: number, msg: Record<string, unknown>, flags: number) => number;
  mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown;
  munmap: (addr: unknown, len: number) => number;
  lseek: (fd: number, off: number, whence: number) => number;
  fcntl: (fd: number, cmd: number) => number;
  open: (path: string, flags: number) => number;
  close: (fd: number) => number;
  errno: () => number;
}

let libc: Libc | undefined;

function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  const iovec = koffi.struct('vg_shm_iovec', { base: 'void *', len: 'size_t' });
  koffi.struct('vg_shm_msghdr', {
    name: 'void *', namelen: 'uint32_t', iov: koffi.pointer(iovec), iovlen: 'size_t',
    control: 'void *', controllen: 'size_t', flags: 'int',
  });
  const errnoLocation = l.func('int *__errno_location(void)') as () => unknown;
  libc = {
    recvmsg: l.func('intptr_t recvmsg(int fd, _Inout_ vg_shm_msghdr *msg, int flags)') as Libc['recvmsg'],
    mmap: l.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)') as Libc['mmap'],
    munmap: l.func('int munmap(void *addr, size_t len)') as Libc['munmap'],
    lseek: l.func('int64_t lseek(int fd, int64_t off, int whence)') as Libc['lseek'],
    fcntl: l.func('int fcntl(int fd, int cmd, ...)') as unknown as Libc['fcntl'],
    open: l.func('int open(const char *path, int flags, ...)') as unknown as Libc['open'],
    close: l.func('int close(int fd)') as Libc['close'],
    errno: () => koffi.decode(errnoLocation(), 'int') as number,
  };
  return libc;
}

/** A mapped region: the bytes the guest and this executor share. */
export class SharedRegion {
  private closed = false;

  constructor(
    private readonly addr: unknown,
    /** Bytes mapped: what this executor measured, never what the guest said. */
    readonly size: number,
    /** The whole mapping; slices of it go to the driver as host pointers. */
    private readonly all: Buffer,
    /** Where it came from, for logs. */
    readonly source: string,
  ) {}

  /** The region's bytes [offset, offset + n): a view, no copy. A range outside the region is the
   * call's error (CUDA_ERROR_INVALID_VALUE); the session goes on. */
  slice(offset: number, n: number): Buffer {
    if (this.closed) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'the shared region is gone');
    if (!(offset >= 0 && n >= 0 && offset <= this.size && n <= this.size - offset)) {
      throw new CudaError(CUDA_ERROR_INVALID_VALUE, `shared range ${offset}+${n} is outside the ${this.size}-byte region`);
    }
    return this.all.subarray(offset, offset + n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    lib().munmap(this.addr, this.size);
  }
}

/** Maps `size` bytes of fd shared and read-write; the caller closes fd (the mapping stays). */
function mapFd(fd: number, size: number, source: string): SharedRegion {
  const c = lib();
  const addr = c.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr === null || koffi.address(addr) === 0xffffffffffffffffn) {
    throw new Error(`cannot map the shared region (${source}): errno ${c.errno()}`);
  }
  return new SharedRegion(addr, size, Buffer.from(koffi.view(addr, size)), source);
}

/** Bytes in fd (its end), checked against the limits. */
function sizeOf(fd: number, what: string): number {
  const size = lib().lseek(fd, 0, SEEK_END);
  if (!(size > 0)) throw new Error(`${what} is empty or cannot be sized`);
  if (size > SHM_MAX_BYTES) throw new Error(`${what} has ${size} bytes, more than ${SHM_MAX_BYTES}`);
  return size;
}

/**
 * Maps a guest's memfd: it must be sealed against shrinking (F_SEAL_SHRINK), so the file can never
 * become shorter than the mapping. Takes fd (closes it). Throws with the reason to refuse.
 */
export function mapGuestMemfd(fd: number): SharedRegion {
  const c = lib();
  try {
    const seals = c.fcntl(fd, F_GET_SEALS);
    if (seals < 0) throw new Error('the descriptor is not a sealable memfd');
    if ((seals & F_SEAL_SHRINK) === 0) throw new Error('the memfd is not sealed against shrinking (F_SEAL_SHRINK)');
    return mapFd(fd, sizeOf(fd, 'the memfd'), 'memfd');
  } finally {
    c.close(fd);
  }
}

/**
 * Maps an operator's file, all of it: the host side of a VM's ivshmem region (QEMU's
 * memory-backend-file, whose size= the file has). Only the operator and the hypervisor can change
 * the file, never the guest.
 */
export function mapHostFile(path: string): SharedRegion {
  const c = lib();
  const fd = c.open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) throw new Error(`cannot open ${path}: errno ${c.errno()}`);
  try {
    return mapFd(fd, sizeOf(fd, path), path);
  } finally {
    c.close(fd);
  }
}

/**
 * One attempt at reading the guest's descriptor from its socket: the byte SHM_FD_BYTE with exactly
 * one descriptor. Returns the descriptor, or undefined when nothing has arrived yet. Anything else
 * (no descriptor, several, another byte, end of stream) is a protocol error; descriptors received
 * alongside are closed.
 */
export function receiveDescriptor(sock: number): number | undefined {
  const c = lib();
  const data = Buffer.alloc(1);
  const control = Buffer.alloc(CONTROL_BYTES);
  const msg: Record<string, unknown> = {
    name: null, namelen: 0, iov: [{ base: data, len: 1 }], iovlen: 1, control, controllen: CONTROL_BYTES, flags: 0,
  };
  const n = c.recvmsg(sock, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    const e = c.errno();
    if (e === EAGAIN) return undefined;
    throw new ProtocolError(`reading the shared-memory descriptor failed: errno ${e}`);
  }
  if (n === 0) throw new ProtocolError('the guest closed its connection instead of sending its shared-memory descriptor');
  const fds = controlFds(control, Number(msg.controllen));
  if ((Number(msg.flags) & MSG_CTRUNC) !== 0 || data[0] !== SHM_FD_BYTE || fds.length !== 1) {
    for (const fd of fds) c.close(fd);
    throw new ProtocolError(`expected byte 0x53 with one descriptor after vgShmOffer, got byte 0x${data[0]!.toString(16)} with ${fds.length}`);
  }
  return fds[0]!;
}

/** The descriptors of the SCM_RIGHTS messages in a control buffer (LP64 cmsghdr layout). */
function controlFds(control: Buffer, len: number): number[] {
  const fds: number[] = [];
  let at = 0;
  while (at + 16 <= len) {
    const cmsgLen = Number(control.readBigUInt64LE(at));
    if (cmsgLen < 16 || at + cmsgLen > len) break;
    if (control.readInt32LE(at + 8) === SOL_SOCKET && control.readInt32LE(at + 12) === SCM_RIGHTS) {
      for (let p = at + 16; p + 4 <= at + cmsgLen; p += 4) fds.push(control.readInt32LE(p));
    }
    at += (cmsgLen + 7) & ~7;
  }
  return fds;
}

/** A session's shared memory: the region once mapped, and what moved through it. */
export class ShmState {
  region: SharedRegion | undefined;
  /** The guest's connection can carry a descriptor (a Unix socket this executor reads itself). */
  canReceive = false;
  /** vgShmOffer was answered: the descriptor comes next on the socket. */
  awaiting = false;
  /** Why the last offered region was refused (vgShmCheck reports it). */
  refused: string | undefined;
  /** Bytes copied to the device from the region, and from the device into it. */
  bytesIn = 0;
  bytesOut = 0;
  /** Blocks registered with the driver (vgShmPin): offset -> bytes. */
  readonly pinned = new Map<number, number>();
}
