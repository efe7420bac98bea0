// Kernel output on its way to the guest (docs/protocol.md, "Notices"): what the session's kernels
// print with printf (and failed asserts) belongs on the guest program's stdout and stderr, never
// in the host's logs. The driver keeps it until one of its flush points; after every answered
// call the serving loop takes whatever has been flushed and sends it ahead of the reply.
//
// softgpu queues flushed output for us (sg_softgpu_output_take). NVIDIA's driver prints it on the
// process's standard output, so for a real GPU fd 1 is a file of our own that is read back after
// each call. What the real driver writes to stderr (its own assert messages) is not captured:
// stderr is where the executor logs.

import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';

export type OutputFd = 1 | 2;

export interface KernelOutput {
  /** Hands over what the driver has flushed since the last call, oldest first, in pieces of at
   * most OUTPUT_PIECE bytes for one stream each; `emit` must copy what it keeps. */
  take(emit: (fd: OutputFd, bytes: Buffer) => void): void;
}

/** The largest piece handed over at once (one NOTIFY frame each). */
export const OUTPUT_PIECE = 64 * 1024;

type Bind = (prototype: string) => ((...args: unknown[]) => unknown) | undefined;

/** softgpu's queue of flushed output; undefined when the library predates it. Switches softgpu
 * to capturing: from now on it prints nothing itself. */
export function softgpuOutput(bind: Bind): KernelOutput | undefined {
  const capture = bind('void sg_softgpu_output_capture(int on)');
  const take = bind('size_t sg_softgpu_output_take(void *fd, void *buf, size_t cap)');
  if (!capture || !take) return undefined;
  capture(1);
  const fd = Buffer.alloc(4);
  const buf = Buffer.allocUnsafe(OUTPUT_PIECE);
  return {
    take(emit) {
      for (;;) {
        const n = Number(take(fd, buf, OUTPUT_PIECE));
        if (n === 0) return;
        emit(fd.readInt32LE(0) === 2 ? 2 : 1, buf.subarray(0, n));
      }
    },
  };
}

interface Libc {
  dup2: (from: number, to: number) => number;
  lseek: (fd: number, off: number, whence: number) => number;
  ftruncate: (fd: number, len: number) => number;
  setvbuf: (file: unknown, buf: null, mode: number, size: number) => number;
  stdout: unknown;
}

const SEEK_END = 2;
const IONBF = 2;

function libc(): Libc {
  const lib = koffi.load('libc.so.6');
  return {
    dup2: lib.func('int dup2(int, int)') as Libc['dup2'],
    lseek: lib.func('long lseek(int, long, int)') as Libc['lseek'],
    ftruncate: lib.func('int ftruncate(int, long)') as Libc['ftruncate'],
    setvbuf: lib.func('int setvbuf(void *, void *, int, size_t)') as Libc['setvbuf'],
    stdout: koffi.decode(lib.symbol('stdout', 'void *'), 'void *'),
  };
}

/**
 * Makes this process's fd 1 an unlinked file (appended to, so a writer never blocks as it would
 * on a full pipe while the executor is busy in the very call that prints) and returns what is
 * written to it. libc's stdout is made unbuffered first, so everything printed reaches the file
 * during the call that prints it. The file is emptied whenever all of it has been taken, which
 * assumes no driver thread prints between the read and the truncation (the driver prints in the
 * calling thread, inside the call, and the executor has one).
 */
export function stdoutCapture(dir = tmpdir()): KernelOutput {
  const c = libc();
  const path = join(dir, `vgpu-executor-${process.pid}.out`);
  const fd = openSync(path, 'ax+');
  unlinkSync(path);
  c.setvbuf(c.stdout, null, IONBF, 0);
  if (c.dup2(fd, 1) < 0) {
    closeSync(fd);
    throw new Error('cannot redirect the executor\'s standard output');
  }
  const buf = Buffer.allocUnsafe(OUTPUT_PIECE);
  return {
    take(emit) {
      const end = c.lseek(fd, 0, SEEK_END);
      if (end <= 0) return;
      for (let pos = 0; pos < end;) {
        const n = readSync(fd, buf, 0, Math.min(OUTPUT_PIECE, end - pos), pos);
        if (n <= 0) break;
        emit(1, buf.subarray(0, n));
        pos += n;
      }
      c.ftruncate(fd, 0);
    },
  };
}
