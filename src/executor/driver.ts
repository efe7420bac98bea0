// Loads the host driver (NVIDIA's libcuda.so.1 or softgpu) with koffi and binds its functions
// lazily: a function the library lacks answers CUDA_ERROR_NOT_SUPPORTED and is logged once,
// instead of failing the whole executor at load time.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

import { PROTOTYPES, type DriverApi, type DriverFnName } from './gen/ffi.js';
import { CUDA_ERROR_NOT_SUPPORTED } from './cuda.js';

export type BackendKind = 'cuda' | 'softgpu';

/** CUipcMemHandle and CUipcEventHandle (64 bytes), which cuIpcOpen*Handle take by value: the
 * prototypes of src/executor/gen/ffi.ts name this type. Declared once per process. */
koffi.struct('CUipcHandle', { reserved: koffi.array('uint8', 64) });

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where NVIDIA's user-space driver lives on common distributions (never our own guest library). */
const CUDA_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
  '/usr/lib/aarch64-linux-gnu/libcuda.so.1',
  '/usr/lib64/libcuda.so.1',
  '/usr/local/nvidia/lib64/libcuda.so.1',
  '/usr/lib/wsl/lib/libcuda.so.1',
];

export function backendPath(kind: BackendKind): string | undefined {
  if (kind === 'softgpu') {
    const p = process.env.VGPU_SOFTGPU_LIB ?? join(repoRoot, 'build/softgpu/libvgpu-softgpu.so');
    return existsSync(p) ? p : undefined;
  }
  if (process.env.VGPU_HOST_LIBCUDA) return process.env.VGPU_HOST_LIBCUDA;
  return CUDA_CANDIDATES.find((p) => existsSync(p));
}

export interface LoadedDriver {
  kind: BackendKind;
  path: string;
  api: DriverApi;
  /** Binds a function under a prototype of our choosing (ABI-compatible with the real one), for
   * hot paths that pass addresses as integers instead of Buffers; undefined if it is missing. */
  raw(prototype: string): ((...args: unknown[]) => number) | undefined;
  /** Names of functions that were called but are missing from the library. */
  missing: Set<string>;
}

export function loadDriver(kind: BackendKind, onMissing: (name: string) => void = () => {}): LoadedDriver {
  const path = backendPath(kind);
  if (!path) {
    throw new Error(kind === 'softgpu'
      ? 'softgpu library not found (build/softgpu/libvgpu-softgpu.so); run make'
      : 'NVIDIA driver library libcuda.so.1 not found (set VGPU_HOST_LIBCUDA)');
  }
  let lib;
  try {
    lib = koffi.load(path);
  } catch (e) {
    // koffi's message does not say which file.
    throw new Error(`cannot load ${path}: ${(e as Error).message}`);
  }
  const missing = new Set<string>();
  const cache = new Map<string, (...args: unknown[]) => number>();
  const bind = (name: DriverFnName): ((...args: unknown[]) => number) => {
    let f = cache.get(name);
    if (f) return f;
    try {
      f = lib.func(PROTOTYPES[name]) as (...args: unknown[]) => number;
    } catch {
      missing.add(name);
      onMissing(name);
      f = () => CUDA_ERROR_NOT_SUPPORTED;
    }
    cache.set(name, f);
    return f;
  };
  // Each function is bound on first use and then replaces its getter, so the hot path is a plain
  // property read.
  const api: Record<string, unknown> = {};
  for (const name of Object.keys(PROTOTYPES) as DriverFnName[]) {
    Object.defineProperty(api, name, {
      configurable: true,
      enumerable: true,
      get() {
        const f = bind(name);
        Object.defineProperty(api, name, { value: f, enumerable: true });
        return f;
      },
    });
  }
  const raw = (prototype: string): ((...args: unknown[]) => number) | undefined => {
    try {
      return lib.func(prototype) as (...args: unknown[]) => number;
    } catch {
      return undefined;
    }
  };
  return { kind, path, api: api as unknown as DriverApi, missing, raw };
}
