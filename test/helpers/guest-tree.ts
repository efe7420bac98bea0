// Debian root filesystems with real CUDA clients: sid with llama.cpp's CUDA backend, which brings
// NVIDIA's cudart 12.4, cuBLAS/cuBLASLt 12.4, libcuda1 550 and nvidia-smi 550
// (docs/reference/real-clients-here.md), and trixie with PyTorch (test/helpers/torch-tree.ts).
// Each is built once by test/guest-tree/build-tree.sh into a cache outside the repository, keyed by
// its suite and package list, and reused afterwards.
//
// Programs run in it with chroot inside a private mount namespace (unshare -m): /proc, /dev, a
// fresh tmpfs on /tmp, the mediator's socket directory and vgpu's guest libraries are mounted
// there only for the life of that one process, so a crashed test leaves no mounts behind and the
// cached tree (NVIDIA's libcuda.so.1 included) is never modified. chroot rather than the host's
// loader, because the tree's binaries need sid's glibc and libstdc++, newer than the host's.
// vgpu's libcuda.so.1 wins over NVIDIA's through LD_LIBRARY_PATH, which the loader searches before
// the tree's ld.so.cache and the update-alternatives link.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { cacheDir } from './cache.js';
import { GUEST_LIB_DIR, ROOT } from './paths.js';
import { startCollect, type CollectingProcess, type ProcessRun } from './spawn.js';

/** What a tree holds: a Debian suite and the packages installed in it without recommends. */
export interface TreeSpec {
  suite: string;
  packages: readonly string[];
  /** Packages installed with their postinst replaced by one that does nothing (build-tree.sh). */
  noPostinst?: readonly string[];
  /** Free space the build demands before it starts (build-tree.sh's default is 4 GB). */
  minFreeGb?: number;
}

export const SUITE = 'sid';
export const PACKAGES: readonly string[] = ['llama.cpp', 'libggml0-backend-cuda', 'nvidia-smi'];
/** The sid tree with llama.cpp's CUDA backend (the one this file's callers mean by default). */
export const SID_TREE: TreeSpec = { suite: SUITE, packages: PACKAGES };
const BUILD_SCRIPT = join(ROOT, 'test/guest-tree/build-tree.sh');
const MARKER = '.vgpu-tree-complete';
/** Exit status of build-tree.sh when the Debian mirror does not answer. */
const EXIT_UNREACHABLE = 3;

/** Where the guest libraries and extra host folders appear inside the tree. */
export const TREE_GUEST_LIB = '/tmp/vgpu-guest-lib';

export type GuestTree = { root: string } | { skip: string };

function buildArgs(spec: TreeSpec): string[] {
  return (spec.noPostinst ?? []).flatMap((p) => ['--no-postinst', p]);
}

/** The tree's folder in the cache, keyed by everything that decides its content. */
export function treeDir(spec: TreeSpec = SID_TREE): string {
  const key = [spec.suite, ...spec.packages, ...buildArgs(spec)].join(' ');
  return join(cacheDir(), `guest-tree-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`);
}

function tail(s: string, lines = 6): string {
  return s.trim().split('\n').slice(-lines).join(' | ');
}

/**
 * Returns the cached tree, building it on first use (a few minutes). Skips only when this machine
 * cannot run the build at all (not root) or the mirror cannot be reached; anything else throws.
 */
export function getTree(spec: TreeSpec): GuestTree {
  const root = treeDir(spec);
  if (existsSync(join(root, MARKER))) return { root };
  if (process.getuid?.() !== 0) return { skip: 'building and entering the guest tree needs root (debootstrap, chroot, mount)' };
  for (const tool of ['unshare', 'chroot', 'flock']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return { skip: `${tool} is not available on this machine` };
    }
  }
  // flock serialises concurrent test runs; the second one finds the tree finished and returns.
  try {
    const room = spec.minFreeGb === undefined ? [] : ['--min-free-gb', String(spec.minFreeGb)];
    execFileSync('flock', [`${root}.lock`, BUILD_SCRIPT, ...buildArgs(spec), ...room, root, spec.suite, ...spec.packages], {
      stdio: ['ignore', 'pipe', 'pipe'], timeout: 30 * 60_000, maxBuffer: 64 << 20,
      env: { ...process.env, LC_ALL: 'C' },
    });
  } catch (e) {
    const err = e as { status?: number; stderr?: Buffer; message?: string };
    const why = tail(err.stderr?.toString() ?? err.message ?? String(e));
    if (err.status === EXIT_UNREACHABLE) return { skip: `cannot build the guest tree: ${why}` };
    throw new Error(`building the guest tree in ${root} failed (status ${err.status}): ${why}`);
  }
  if (!existsSync(join(root, MARKER))) throw new Error(`build-tree.sh returned but ${root} is not complete`);
  return { root };
}

/** The sid tree (SID_TREE). */
export function getGuestTree(): GuestTree {
  return getTree(SID_TREE);
}

export interface TreeBind {
  /** Folder on this machine. */
  host: string;
  /** Absolute path inside the tree; must be under /tmp (the private tmpfs), so the cache stays untouched. */
  guest: string;
}

export type TreeRun = ProcessRun;

export interface TreeRunOptions {
  /** The mediator's address (unix:PATH or tcp:HOST:PORT); a unix socket's folder is bound into the tree. */
  server: string;
  env?: Record<string, string>;
  binds?: TreeBind[];
  /** Extra loader path entries inside the tree, searched after vgpu's guest libraries. */
  libPath?: string[];
  timeoutMs?: number;
}

const SHELL_SETUP = `
set -e
root=$1; shift
mount --make-rprivate / 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
while [ "$1" != "--" ]; do
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  shift 2
done
shift
exec chroot "$root" "$@"
`;

/** Runs argv inside the tree on vgpu's libcuda.so.1 (and libnvidia-ml.so.1), talking to `server`. */
export function runInTree(root: string, argv: string[], opts: TreeRunOptions): Promise<TreeRun> {
  return startInTree(root, argv, opts).done;
}

/** As runInTree, with the running process at hand (for servers the test talks to and then ends).
 * unshare, sh and chroot each exec the next, so the child is the program itself. */
export function startInTree(root: string, argv: string[], opts: TreeRunOptions): CollectingProcess {
  const binds: TreeBind[] = [{ host: GUEST_LIB_DIR, guest: TREE_GUEST_LIB }, ...(opts.binds ?? [])];
  if (opts.server.startsWith('unix:')) {
    const dir = dirname(opts.server.slice(5));
    if (!dir.startsWith('/tmp/')) throw new Error(`socket ${opts.server} must live under /tmp to be bound into the tree`);
    binds.push({ host: dir, guest: dir });
  }
  for (const b of binds) {
    if (!b.guest.startsWith('/tmp/') || b.guest.includes('..')) throw new Error(`bind target ${b.guest} is not under /tmp`);
  }
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp',
    LANG: 'C.UTF-8',
    LD_LIBRARY_PATH: [TREE_GUEST_LIB, ...(opts.libPath ?? [])].join(':'),
    VGPU_SERVER: opts.server,
    ...opts.env,
  };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const args = ['-m', '--propagation', 'private', 'sh', '-c', SHELL_SETUP, 'sh', root,
    ...binds.flatMap((b) => [b.host, b.guest]), '--', '/usr/bin/env', '-i', ...envArgs, ...argv];
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return startCollect('unshare', args, process.env, timeoutMs, `${argv.join(' ')} in the guest tree`);
}

/** The tree's folder holding NVIDIA's CUDA 12 user-space libraries (libcudart.so.12, libcublas.so.12). */
export const TREE_LIB = '/usr/lib/x86_64-linux-gnu';

// ---- A tiny llama model, so llama.cpp can run a real forward pass on the vGPU -----------------
// GGUF v3 (ggml's file format): header, key/value metadata, tensor descriptors, then the tensor
// data aligned to 32 bytes. The weights are a fixed pseudo-random sequence, so every run (and the
// CPU reference run) computes the same thing. Vocabulary: <unk>, <s>, </s> and the 256 byte
// tokens, which lets the SentencePiece tokenizer encode any prompt by byte fallback.

const GGUF_U32 = 4;
const GGUF_F32 = 6;
const GGUF_STRING = 8;
const GGUF_ARRAY = 9;
const GGUF_I32 = 5;
const GGML_F32 = 0;

class GgufWriter {
  private parts: Buffer[] = [];
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.parts.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.parts.push(b);
  }
  raw(b: Buffer): void {
    this.parts.push(b);
  }
  get length(): number {
    return this.parts.reduce((n, b) => n + b.length, 0);
  }
  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    if (n) this.parts.push(Buffer.alloc(n));
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface TinyLlama {
  nEmbd: number;
  nFf: number;
  nHead: number;
  nLayer: number;
  nVocab: number;
}

/** Writes a 1-layer llama model of a few hundred KiB with F32 weights; returns its shape. */
export function tinyLlamaGguf(): { file: Buffer; shape: TinyLlama } {
  const shape: TinyLlama = { nEmbd: 64, nFf: 128, nHead: 4, nLayer: 1, nVocab: 259 };
  const { nEmbd, nFf, nHead, nVocab } = shape;
  let seed = 0x1234567;
  const rnd = (): number => {
    // xorshift32: deterministic and fast; values in [-1, 1).
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed / 2 ** 31 - 1;
  };
  const tensors: Array<{ name: string; dims: number[]; fill: () => number }> = [];
  const w = (name: string, dims: number[], scale: number): void => {
    tensors.push({ name, dims, fill: () => rnd() * scale });
  };
  const ones = (name: string, n: number): void => {
    tensors.push({ name, dims: [n], fill: () => 1 });
  };
  w('token_embd.weight', [nEmbd, nVocab], 1);
  ones('output_norm.weight', nEmbd);
  w('output.weight', [nEmbd, nVocab], 0.5);
  ones('blk.0.attn_norm.weight', nEmbd);
  w('blk.0.attn_q.weight', [nEmbd, nEmbd], 0.2);
  w('blk.0.attn_k.weight', [nEmbd, nEmbd], 0.2);
  w('blk.0.attn_v.weight', [nEmbd, nEmbd], 0.2);
  w('blk.0.attn_output.weight', [nEmbd, nEmbd], 0.2);
  ones('blk.0.ffn_norm.weight', nEmbd);
  w('blk.0.ffn_gate.weight', [nEmbd, nFf], 0.2);
  w('blk.0.ffn_up.weight', [nEmbd, nFf], 0.2);
  w('blk.0.ffn_down.weight', [nFf, nEmbd], 0.2);

  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let i = 0; i < 256; i++) {
    tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const g = new GgufWriter();
  const kv: Array<() => void> = [];
  const kvStr = (k: string, v: string): void => void kv.push(() => (g.str(k), g.u32(GGUF_STRING), g.str(v)));
  const kvU32 = (k: string, v: number): void => void kv.push(() => (g.str(k), g.u32(GGUF_U32), g.u32(v)));
  const kvF32 = (k: string, v: number): void => void kv.push(() => (g.str(k), g.u32(GGUF_F32), g.f32(v)));
  kvStr('general.architecture', 'llama');
  kvStr('general.name', 'vgpu-tiny-test');
  kvU32('llama.context_length', 256);
  kvU32('llama.embedding_length', nEmbd);
  kvU32('llama.block_count', shape.nLayer);
  kvU32('llama.feed_forward_length', nFf);
  kvU32('llama.attention.head_count', nHead);
  kvU32('llama.attention.head_count_kv', nHead);
  kvU32('llama.rope.dimension_count', nEmbd / nHead);
  kvF32('llama.attention.layer_norm_rms_epsilon', 1e-5);
  kvStr('tokenizer.ggml.model', 'llama');
  kv.push(() => {
    g.str('tokenizer.ggml.tokens');
    g.u32(GGUF_ARRAY);
    g.u32(GGUF_STRING);
    g.u64(tokens.length);
    for (const t of tokens) g.str(t);
  });
  kv.push(() => {
    g.str('tokenizer.ggml.scores');
    g.u32(GGUF_ARRAY);
    g.u32(GGUF_F32);
    g.u64(tokens.length);
    for (let i = 0; i < tokens.length; i++) g.f32(0);
  });
  kv.push(() => {
    g.str('tokenizer.ggml.token_type');
    g.u32(GGUF_ARRAY);
    g.u32(GGUF_I32);
    g.u64(types.length);
    for (const t of types) g.i32(t);
  });
  kvU32('tokenizer.ggml.bos_token_id', 1);
  kvU32('tokenizer.ggml.eos_token_id', 2);
  kvU32('tokenizer.ggml.unknown_token_id', 0);

  g.raw(Buffer.from('GGUF', 'latin1'));
  g.u32(3);
  g.u64(tensors.length);
  g.u64(kv.length);
  for (const f of kv) f();
  let offset = 0;
  const align = (n: number): number => (n + 31) & ~31;
  for (const t of tensors) {
    g.str(t.name);
    g.u32(t.dims.length);
    for (const d of t.dims) g.u64(d);
    g.u32(GGML_F32);
    g.u64(offset);
    offset = align(offset + 4 * t.dims.reduce((a, b) => a * b, 1));
  }
  g.pad(32);
  for (const t of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const b = Buffer.alloc(4 * n);
    for (let i = 0; i < n; i++) b.writeFloatLE(t.fill(), 4 * i);
    g.raw(b);
    g.pad(32);
  }
  return { file: g.done(), shape };
}
