// What a hand-written guest needs to offer its executor a shared region (docs/protocol.md, "Shared
// memory"): a memfd, and the descriptor sent over its connection (Node cannot send one: libc
// through koffi does).

import type net from 'node:net';
import koffi from 'koffi';

const F_ADD_SEALS = 1033;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;

interface Libc {
  memfdCreate: (name: string, flags: number) => number;
  ftruncate: (fd: number, len: number) => number;
  fcntl: (fd: number, cmd: number, type: string, arg: number) => number;
  pwrite: (fd: number, buf: Buffer, n: number, off: number) => number;
  pread: (fd: number, buf: Buffer, n: number, off: number) => number;
  sendmsg: (fd: number, msg: Record<string, unknown>, flags: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  const iovec = koffi.struct('test_shm_iovec', { base: 'void *', len: 'size_t' });
  koffi.struct('test_shm_msghdr', {
    name: 'void *', namelen: 'uint32_t', iov: koffi.pointer(iovec), iovlen: 'size_t',
    control: 'void *', controllen: 'size_t', flags: 'int',
  });
  libc = {
    memfdCreate: l.func('int memfd_create(const char *name, unsigned int flags)') as Libc['memfdCreate'],
    ftruncate: l.func('int ftruncate(int fd, int64_t len)') as Libc['ftruncate'],
    fcntl: l.func('int fcntl(int fd, int cmd, ...)') as unknown as Libc['fcntl'],
    pwrite: l.func('intptr_t pwrite(int fd, const void *buf, size_t n, int64_t off)') as Libc['pwrite'],
    pread: l.func('intptr_t pread(int fd, _Out_ void *buf, size_t n, int64_t off)') as Libc['pread'],
    sendmsg: l.func('intptr_t sendmsg(int fd, test_shm_msghdr *msg, int flags)') as Libc['sendmsg'],
    close: l.func('int close(int fd)') as Libc['close'],
  };
  return libc;
}

/** A memfd of `size` bytes, sealed against shrinking and growing unless `sealed` is false. */
export function makeMemfd(size: number, sealed = true): number {
  const c = lib();
  const fd = c.memfdCreate('vgpu-test-shm', MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || c.ftruncate(fd, size) !== 0) throw new Error('memfd_create/ftruncate failed');
  if (sealed && c.fcntl(fd, F_ADD_SEALS, 'int', F_SEAL_SHRINK | F_SEAL_GROW) !== 0) throw new Error('sealing failed');
  return fd;
}

export function writeAt(fd: number, offset: number, data: Buffer): void {
  if (lib().pwrite(fd, data, data.length, offset) !== data.length) throw new Error('pwrite failed');
}

export function readAt(fd: number, offset: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  if (lib().pread(fd, b, n, offset) !== n) throw new Error('pread failed');
  return b;
}

export function closeFd(fd: number): void {
  lib().close(fd);
}

/** Sends `byte` on the socket with descriptor `fd` attached (none when undefined). */
export function sendWithFd(sock: net.Socket, byte: number, fd: number | undefined): void {
  const sfd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof sfd !== 'number' || sfd < 0) throw new Error('the socket has no descriptor');
  let control: Buffer | null = null;
  if (fd !== undefined) {
    control = Buffer.alloc(24);
    control.writeBigUInt64LE(20n, 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    control.writeInt32LE(fd, 16);
  }
  const msg = {
    name: null, namelen: 0, iov: [{ base: Buffer.from([byte]), len: 1 }], iovlen: 1,
    control, controllen: control ? control.length : 0, flags: 0,
  };
  if (lib().sendmsg(sfd, msg, 0) !== 1) throw new Error('sendmsg failed');
}
