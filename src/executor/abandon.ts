// Abandoning a session's in-flight GPU work at once when its guest goes away or the mediator ends
// it (docs/operations.md, "Fair use of the GPU").
//
// While a kernel runs on softgpu, this process's only JavaScript thread is inside the launch, so
// neither the guest's connection closing nor the mediator's 'kill' can be seen until it returns.
// softgpu therefore watches for both itself (softgpu/api/cancel.c): a thread of its own polls the
// guest's connection for a hang-up and this executor's cancel FIFO (src/common/cancel-fifo.ts,
// opened by main.ts) for a byte the mediator writes, and either makes the running launch stop within milliseconds and
// every later one fail with CUDA_ERROR_LAUNCH_TIMEOUT. The first call that comes back so tells the
// serving loop to stop serving: the session is ending (its 'close' or the mediator's 'kill' is
// already on its way), and nothing more should run or be answered for it.
//
// On NVIDIA's driver, launches are asynchronous and the event loop stays free, so the kill and
// the guest's close are seen between calls; the process then exits, which tears the context and
// its running kernels down. There is nothing to bind there.

import type { LoadedDriver } from './driver.js';

/** What softgpu answers for abandoned work (a GPU's watchdog error: the context is poisoned). */
export const CUDA_ERROR_LAUNCH_TIMEOUT = 702;

/** What abandoning did, for the session's last log line (softgpu's sg_softgpu_cancel_stats). */
export interface AbandonRecord {
  /** Launches that stopped or were refused. */
  launchesAbandoned: number;
  /** Blocks that still ran to their end after the request: 0 when the flag is seen in time. */
  blocksAfterCancel: number;
  /** How long the launch running at the request took to stop (a diagnostic; 0 if none ran). */
  stopMs: number;
}

export interface Abandonment {
  /** Whether a call's error means the session's work was abandoned (checked on errors only). */
  abandoned(code: number): boolean;
  /** The record, once the work was abandoned; undefined before. */
  record(): AbandonRecord | undefined;
}

type WatchFn = (guestFd: number, controlFd: number) => number;
type StatsFn = (out: Buffer) => number;

/**
 * Starts softgpu's watcher on the guest's connection and the cancel FIFO (-1 for none).
 * Undefined when the driver has no such watcher (NVIDIA's) or it could not start; the
 * reason is passed to `onUnwatched` for the log.
 */
export function watchForAbandon(
  drv: LoadedDriver,
  guestFd: number,
  controlFd: number,
  onUnwatched: (reason: string) => void,
): Abandonment | undefined {
  if (drv.kind !== 'softgpu') return undefined;
  const watch = drv.raw('int sg_softgpu_watch(int guest_fd, int control_fd)') as WatchFn | undefined;
  const stats = drv.raw('int sg_softgpu_cancel_stats(void *out)') as StatsFn | undefined;
  if (!watch || !stats) {
    onUnwatched('this softgpu library cannot abandon work (no sg_softgpu_watch)');
    return undefined;
  }
  if (guestFd < 0 || watch(guestFd, controlFd) !== 0) {
    onUnwatched(guestFd < 0 ? 'the guest connection has no descriptor' : 'sg_softgpu_watch failed');
    return undefined;
  }
  const read = (): bigint[] => {
    const b = Buffer.alloc(32);
    stats(b);
    return [0, 8, 16, 24].map((o) => b.readBigUInt64LE(o));
  };
  return {
    abandoned: (code) => code === CUDA_ERROR_LAUNCH_TIMEOUT && read()[0] !== 0n,
    record: () => {
      const [cancelled = 0n, launches = 0n, blocks = 0n, stopNs = 0n] = read();
      if (cancelled === 0n) return undefined;
      return { launchesAbandoned: Number(launches), blocksAfterCancel: Number(blocks), stopMs: Number(stopNs) / 1e6 };
    },
  };
}
