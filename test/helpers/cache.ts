// The cache outside the repository where tests keep what they download or build once (NVIDIA's
// nvidia-smi, the Debian guest tree): $VGPU_CACHE_DIR, else ~/.cache/vgpu. It is created here, by
// the code that uses it, so a machine that has never run the tests needs no set-up step (a missing
// ~/.cache/vgpu once made `flock` fail on a fresh machine). .ci/run points VGPU_CACHE_DIR at an
// empty folder of its own on every run to prove it.

import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(): string {
  const dir = process.env.VGPU_CACHE_DIR ?? join(homedir(), '.cache', 'vgpu');
  mkdirSync(dir, { recursive: true });
  return dir;
}
