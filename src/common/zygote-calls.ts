// The executor zygote's system calls (src/native/zygote.c), for the zygote, the executors it forks
// and the mediator, which makes each forked executor's handoff socketpair and hands a guest's
// connection over it with vg_zy_send_fd (docs/executors.md, "Zygote").

/** The descriptor of a socket (-1 if it has none). */
export function socketFd(s: { _handle?: unknown } | object): number {
  const fd = (s as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ZygoteCalls {
  socketpair(fds: Int32Array): number;
  /** The child's pid, or -errno, in the parent; 0 in the child. */
  fork(): number;
  /** One exited child: its pid, 0 when none, -errno. */
  reap(code: number[], sig: number[]): number;
  sendFd(sock: number, fd: number): number;
  recvFd(sock: number, timeoutMs: number): number;
  dup(fd: number): number;
  close(fd: number): number;
  getpid(): number;
  exit(code: number): never;
}

let calls: ZygoteCalls | undefined;

/** The library's path: VGPU_ZYGOTE_LIB, else the build's. */
export function zygoteLibraryPath(): string {
  return process.env.VGPU_ZYGOTE_LIB ?? join(repoRoot, 'build/native/libvgpu-zygote.so');
}

/** Loads the library once; throws when it is not built. */
export function zygoteCalls(): ZygoteCalls {
  if (calls) return calls;
  const path = zygoteLibraryPath();
  if (!existsSync(path)) throw new Error(`${path} not found; run make`);
  const l = koffi.load(path);
  calls = {
    socketpair: l.func('int vg_zy_socketpair(_Out_ int *fds)') as ZygoteCalls['socketpair'],
    fork: l.func('int vg_zy_fork(void)') as ZygoteCalls['fork'],
    reap: l.func('int vg_zy_reap(_Out_ int *code, _Out_ int *sig)') as ZygoteCalls['reap'],
    sendFd: l.func('int vg_zy_send_fd(int sock, int fd)') as ZygoteCalls['sendFd'],
    recvFd: l.func('int vg_zy_recv_fd(int sock, int timeout_ms)') as ZygoteCalls['recvFd'],
    dup: l.func('int vg_zy_dup(int fd)') as ZygoteCalls['dup'],
    close: l.func('int vg_zy_close(int fd)') as ZygoteCalls['close'],
    getpid: l.func('int vg_zy_getpid(void)') as ZygoteCalls['getpid'],
    exit: l.func('void vg_zy_exit(int code)') as unknown as ZygoteCalls['exit'],
  };
  return calls;
}
