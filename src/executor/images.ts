// The module images of one session (docs/protocol.md, "Module images"): what its VM has in the
// host's image store (src/common/image-store.ts), and uploads, checked and admitted to the store
// as the VM's. Another VM's images are never an answer: a lookup finds only what this VM uploaded.

import { createHash } from 'node:crypto';

import { ImageStoreFull, type ImageLimits, type ImageStore } from '../common/image-store.js';
import { CudaError, CUDA_ERROR_INVALID_IMAGE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_UNKNOWN } from './cuda.js';
import { imageHeadProblem, imageProblem } from './image-format.js';

/** Largest image accepted (cuBLAS's biggest fatbins are well under this). */
export const MAX_IMAGE = 1 << 30;

export class SessionImages {
  /** Images this session may load (it uploaded them, or its VM had them), kept for the session's
   * life: the guest remembers what the host has for as long as its process runs, so a load must
   * not depend on what the store evicts meanwhile. */
  private readonly held = new Map<string, Buffer>();

  constructor(
    private readonly store: ImageStore,
    readonly vm: string,
    readonly limits: ImageLimits,
  ) {}

  /** The image's bytes if this VM has it; undefined otherwise (whoever else may have it). */
  get(hash: string): Buffer | undefined {
    const known = this.held.get(hash);
    if (known) {
      this.store.touch(this.vm, hash);
      return known;
    }
    const b = this.store.read(this.vm, hash);
    if (b) this.keep(hash, b);
    return b;
  }

  /** Checks an upload of `total` bytes that starts with `head`, before its bytes are taken in. */
  begin(total: number, head: Buffer): void {
    if (total === 0 || total > MAX_IMAGE) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `image size ${total} out of range`);
    if (total > this.limits.perVm || total > this.limits.total) {
      throw new CudaError(CUDA_ERROR_OUT_OF_MEMORY, `an image of ${total} bytes is over the image store's limits (${this.limits.perVm} per VM, ${this.limits.total} in all)`);
    }
    const problem = imageHeadProblem(head, total);
    if (problem !== undefined) throw new CudaError(CUDA_ERROR_INVALID_IMAGE, `not a module image: ${problem}`);
  }

  /** A complete upload: checked, kept in the store as this VM's, and held by the session. */
  finish(hash: string, image: Buffer): void {
    if (createHash('sha256').update(image).digest('hex') !== hash) {
      throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'uploaded image does not match its hash');
    }
    const problem = imageProblem(image);
    if (problem !== undefined) throw new CudaError(CUDA_ERROR_INVALID_IMAGE, `not a module image: ${problem}`);
    try {
      this.store.put(this.vm, hash, image, this.limits);
    } catch (e) {
      // The session goes on either way: the load that needed the image fails.
      if (e instanceof ImageStoreFull) throw new CudaError(CUDA_ERROR_OUT_OF_MEMORY, e.message);
      const code = (e as { code?: string }).code;
      const full = code === 'ENOSPC' || code === 'EDQUOT';
      throw new CudaError(full ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_UNKNOWN, `the image store could not keep the image: ${(e as Error).message}`);
    }
    this.keep(hash, image);
  }

  private keep(hash: string, b: Buffer): void {
    this.held.set(hash, b);
    try {
      this.store.hold(this.vm, hash);
    } catch {
      // Without its lease the image may be evicted from the disk, which costs a later process an
      // upload; this session has it in memory either way.
    }
  }
}
