// The module image store (docs/operations.md, "The module image store"): images kept on the host
// by SHA-256 so that a VM's guest sends each one once, not at every process start. It is shared
// by the executors (one process per session, uploading and loading at the same time), the
// mediator (limits, sweeping, metrics) and vgpu-admin (a VM's removal), so all of it is on disk:
//
//   blobs/<sha256>            the bytes, one copy whatever the number of VMs that uploaded them
//   vms/<vm>/<sha256>         a hard link to the blob: this VM uploaded the image. Only these
//                             answer a VM's lookups, so one VM learns nothing about another's
//   vms/<vm>/.used/<sha256>   empty; its mtime is the VM's last use (hard links share one inode,
//                             and so one mtime, between VMs)
//   vms/<vm>/.live/<pid>      the images a live executor of the VM holds, one hash per line
//   tmp/                      uploads being written, never looked up
//   .lock                     flock'ed while the index changes
//
// Readers take no lock: a link is made only after its blob is complete (written to tmp/, then
// renamed), so an entry that exists is a whole image. Everything that links, unlinks or counts
// holds the lock (flock, released by the kernel when its holder dies, even by SIGKILL), so the
// limits hold with any number of executors uploading at once and a blob is removed only when no
// VM links it.

import { randomBytes } from 'node:crypto';
import {
  appendFileSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync,
  unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';

/** A SHA-256 in lower-case hex: the only names the store looks up. */
const HASH_RE = /^[0-9a-f]{64}$/;
/** Files of the layout before this one: images by hash, and their uploads, owned by no VM. */
const OLD_LAYOUT_RE = /^\.?[0-9a-f]{64}(\.\d+)?$/;
/** VM names as the store allows them (src/store/validate.ts): safe as one path component. */
const VM_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** How long a process waits for another's hold on the lock (each hold is a few file operations). */
const LOCK_WAIT_MS = 10_000;

/** Both count each VM's images in full, shared with another VM or not: the disk holds at most
 * `total`, less where VMs uploaded the same images. */
export interface ImageLimits {
  /** Bytes of images one VM may keep. */
  perVm: number;
  /** Bytes of images all VMs together may keep. */
  total: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { perVm: 4 * 2 ** 30, total: 16 * 2 ** 30 };

/** The image store of a state directory. */
export function imageStoreDir(stateDir: string): string {
  return join(stateDir, 'images');
}

/** The image cannot be kept within the limits, even after evicting what may be evicted. */
export class ImageStoreFull extends Error {
  override readonly name = 'ImageStoreFull';
}

function errno(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

function ignoreMissing(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

/** Wall-clock seconds with sub-millisecond resolution, for LRU order across processes. */
function nowSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

type Flock = (fd: number, op: number) => number;
let flockFn: Flock | undefined;
function flock(): Flock {
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int op)') as Flock;
  return flockFn;
}
const LOCK_EX = 2;
const LOCK_NB = 4;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

interface Entry {
  hash: string;
  size: number;
  usedAt: number;
}

export interface ImageStoreUsage {
  /** Bytes on disk (each image once). */
  total: number;
  /** Bytes of the images each VM has (an image two VMs uploaded counts for both). */
  vms: Map<string, number>;
}

export class ImageStore {
  constructor(readonly dir: string) {}

  private blob(hash: string): string {
    return join(this.dir, 'blobs', hash);
  }

  private vmDir(vm: string): string {
    if (!VM_RE.test(vm)) throw new Error(`not a VM name: ${JSON.stringify(vm)}`);
    return join(this.dir, 'vms', vm);
  }

  private entry(vm: string, hash: string): string {
    if (!HASH_RE.test(hash)) throw new Error(`not an image hash: ${JSON.stringify(hash)}`);
    return join(this.vmDir(vm), hash);
  }

  private usedMark(vm: string, hash: string): string {
    return join(this.vmDir(vm), '.used', hash);
  }

  // ---- what a VM has (no lock) -------------------------------------------------------------------

  /** The image's bytes if `vm` uploaded it and it is still kept; undefined otherwise, whoever else
   * may have it. Counts as a use. */
  read(vm: string, hash: string): Buffer | undefined {
    let b: Buffer;
    try {
      b = readFileSync(this.entry(vm, hash));
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
    this.touch(vm, hash);
    return b;
  }

  /** Records a use of the VM's image (for least-recently-used eviction). */
  touch(vm: string, hash: string): void {
    const t = nowSeconds();
    // Evicted meanwhile: nothing to record.
    ignoreMissing(() => utimesSync(this.usedMark(vm, hash), t, t));
  }

  /** Records that this process holds the VM's image, so that it is not evicted while the
   * session lives (the lease ends with the process). */
  hold(vm: string, hash: string): void {
    const dir = join(this.vmDir(vm), '.live');
    const file = join(dir, String(process.pid));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!leases.has(file)) {
      leases.add(file);
      if (leases.size === 1) process.once('exit', dropLeases);
    }
    appendFileSync(file, `${hash}\n`, { mode: 0o600 });
  }

  /** Bytes of the images `vm` has. */
  vmBytes(vm: string): number {
    return this.entries(vm).reduce((n, e) => n + e.size, 0);
  }

  usage(): ImageStoreUsage {
    const vms = new Map<string, number>();
    for (const vm of this.vmNames()) vms.set(vm, this.vmBytes(vm));
    return { total: this.diskBytes(), vms };
  }

  // ---- changes (under the lock) ------------------------------------------------------------------

  /**
   * Keeps `bytes` (already checked to be the image `hash` names) as an image of `vm`. To stay
   * within `limits` it first evicts the VM's least recently used images, then, for the total, the
   * least recently used ones of any VM, never an image a live session of its VM holds; throws
   * ImageStoreFull when that is not enough. `bytes` is written to disk whether or not another VM already has
   * it, so that the time an upload takes does not tell either.
   */
  put(vm: string, hash: string, bytes: Buffer, limits: ImageLimits): void {
    const entry = this.entry(vm, hash);
    if (bytes.length > limits.perVm || bytes.length > limits.total) {
      throw new ImageStoreFull(`an image of ${bytes.length} bytes is over the store's limits`);
    }
    const tmpDir = join(this.dir, 'tmp');
    mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    const tmp = join(tmpDir, `${hash}.${process.pid}.${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, bytes, { mode: 0o600 });
    try {
      this.locked(() => {
        if (existsSync(entry)) return; // another session of the VM uploaded it meanwhile
        // Both limits count the VM's bytes whether or not another VM has the same image, so
        // what is evicted, and whether the upload fits, tells a VM nothing about other VMs' images.
        this.trimVm(vm, bytes.length, limits.perVm);
        this.trimTotal(bytes.length, limits.total);
        mkdirSync(join(this.dir, 'blobs'), { recursive: true, mode: 0o700 });
        mkdirSync(join(this.vmDir(vm), '.used'), { recursive: true, mode: 0o700 });
        if (!existsSync(this.blob(hash))) renameSync(tmp, this.blob(hash));
        linkSync(this.blob(hash), entry);
        writeFileSync(this.usedMark(vm, hash), '', { mode: 0o600 });
      });
      this.touch(vm, hash);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Deletes everything of a removed VM (and the blobs no other VM links). */
  removeVm(vm: string): void {
    const dir = this.vmDir(vm);
    if (!existsSync(dir)) return;
    this.locked(() => {
      for (const e of this.entries(vm)) this.drop(vm, e.hash);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  /**
   * Brings the store in line with the VMs that exist and the limits (at the mediator's start):
   * deletes the images of VMs removed while no mediator ran, blobs no VM links, leases and
   * uploads of processes that are gone, the files of the unowned layout before this one, and the
   * least recently used images past limits lowered since the last start.
   */
  sweep(vms: ReadonlySet<string>, limits: ImageLimits): void {
    if (!existsSync(this.dir)) return;
    this.locked(() => {
      for (const name of readdirSync(this.dir)) {
        if (OLD_LAYOUT_RE.test(name)) rmSync(join(this.dir, name), { force: true });
      }
      for (const vm of this.vmNames()) {
        if (!vms.has(vm)) {
          for (const e of this.entries(vm)) this.drop(vm, e.hash);
          rmSync(this.vmDir(vm), { recursive: true, force: true });
          continue;
        }
        this.leased(vm); // drops leases of processes that are gone
        for (const mark of this.listDir(join(this.vmDir(vm), '.used'))) {
          if (!existsSync(join(this.vmDir(vm), mark))) rmSync(join(this.vmDir(vm), '.used', mark), { force: true });
        }
      }
      for (const hash of this.listDir(join(this.dir, 'blobs'))) this.collect(hash);
      for (const name of this.listDir(join(this.dir, 'tmp'))) {
        const pid = Number(name.split('.')[1]);
        if (!Number.isInteger(pid) || !pidAlive(pid)) rmSync(join(this.dir, 'tmp', name), { force: true });
      }
      for (const vm of this.vmNames()) this.trimVm(vm, 0, limits.perVm);
      this.trimTotal(0, limits.total);
    });
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** Runs `f` holding the store's lock (not reentrant: `f` must not take it again). */
  private locked<T>(f: () => T): T {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const fd = openSync(join(this.dir, '.lock'), 'a', 0o600);
    try {
      const deadline = Date.now() + LOCK_WAIT_MS;
      while (flock()(fd, LOCK_EX | LOCK_NB) !== 0) {
        if (Date.now() > deadline) throw new Error(`the image store ${this.dir} stayed locked for ${LOCK_WAIT_MS} ms`);
        Atomics.wait(sleeper, 0, 0, 2);
      }
      return f();
    } finally {
      closeSync(fd); // releases the lock
    }
  }

  private listDir(dir: string): string[] {
    try {
      return readdirSync(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw e;
    }
  }

  private vmNames(): string[] {
    return this.listDir(join(this.dir, 'vms')).filter((n) => VM_RE.test(n));
  }

  private entries(vm: string): Entry[] {
    const out: Entry[] = [];
    for (const hash of this.listDir(this.vmDir(vm))) {
      if (!HASH_RE.test(hash)) continue;
      try {
        const size = statSync(this.entry(vm, hash)).size;
        let usedAt = 0; // no mark: oldest
        ignoreMissing(() => (usedAt = statSync(this.usedMark(vm, hash)).mtimeMs));
        out.push({ hash, size, usedAt });
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
      }
    }
    return out;
  }

  private diskBytes(): number {
    let n = 0;
    for (const hash of this.listDir(join(this.dir, 'blobs'))) {
      ignoreMissing(() => (n += statSync(this.blob(hash)).size));
    }
    return n;
  }

  /** Hashes the VM's live sessions hold; leases of processes that are gone are deleted. */
  private leased(vm: string): Set<string> {
    const dir = join(this.vmDir(vm), '.live');
    const held = new Set<string>();
    for (const name of this.listDir(dir)) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) {
        rmSync(join(dir, name), { force: true });
        continue;
      }
      let text = '';
      ignoreMissing(() => (text = readFileSync(join(dir, name), 'utf8')));
      for (const line of text.split('\n')) if (HASH_RE.test(line)) held.add(line);
    }
    return held;
  }

  /** Removes the VM's image; its blob goes too when no VM links it any more. */
  private drop(vm: string, hash: string): void {
    ignoreMissing(() => unlinkSync(this.entry(vm, hash)));
    rmSync(this.usedMark(vm, hash), { force: true });
    this.collect(hash);
  }

  /** Deletes the blob when its only link is its own name. */
  private collect(hash: string): void {
    ignoreMissing(() => {
      if (statSync(this.blob(hash)).nlink <= 1) unlinkSync(this.blob(hash));
    });
  }

  /** Makes room for `size` more bytes of the VM's under its limit: its least recently used images
   * that none of its live sessions holds go first. */
  private trimVm(vm: string, size: number, limit: number): void {
    const mine = this.entries(vm).sort((a, b) => a.usedAt - b.usedAt);
    let vmBytes = mine.reduce((n, e) => n + e.size, 0);
    if (vmBytes + size <= limit) return;
    const held = this.leased(vm);
    for (const e of mine) {
      if (vmBytes + size <= limit) break;
      if (held.has(e.hash)) continue;
      this.drop(vm, e.hash);
      vmBytes -= e.size;
    }
    if (vmBytes + size > limit) {
      throw new ImageStoreFull(`VM ${vm}: the images its sessions hold leave no room for ${size} more bytes under its limit of ${limit}`);
    }
  }

  /** Makes room for `size` more bytes under the store's `limit`: the images least recently used
   * by their VM, whichever VM, that no live session of it holds, go first. */
  private trimTotal(size: number, limit: number): void {
    const all: Array<Entry & { vm: string; held: boolean }> = [];
    for (const vm of this.vmNames()) {
      const held = this.leased(vm);
      for (const e of this.entries(vm)) all.push({ ...e, vm, held: held.has(e.hash) });
    }
    let total = all.reduce((n, e) => n + e.size, 0);
    if (total + size <= limit) return;
    for (const e of all.sort((a, b) => a.usedAt - b.usedAt)) {
      if (total + size <= limit) break;
      if (e.held) continue;
      this.drop(e.vm, e.hash);
      total -= e.size;
    }
    if (total + size > limit) {
      throw new ImageStoreFull(`the images live sessions hold leave no room for ${size} more bytes under the store's limit of ${limit}`);
    }
  }
}

/** Lease files of this process, deleted when it exits. */
const leases = new Set<string>();
function dropLeases(): void {
  for (const f of leases) rmSync(f, { force: true });
}
