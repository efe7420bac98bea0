// The module image store: what an upload may be (src/executor/image-format.ts), what a VM can find
// (only what it uploaded: no answer tells it what another VM has), its limits with least-recently
// used eviction that spares what live sessions hold, the removal of a VM's images, the sweep at
// the mediator's start, and executors of one VM uploading at the same time.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ImageStore, ImageStoreFull, type ImageLimits } from '../../src/common/image-store.js';
import { ExecContext } from '../../src/executor/context.js';
import { CudaError } from '../../src/executor/cuda.js';
import type { DriverApi } from '../../src/executor/gen/ffi.js';
import { OPS } from '../../src/executor/gen/dispatch.js';
import { imageProblem } from '../../src/executor/image-format.js';
import { SessionImages } from '../../src/executor/images.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { fatbinImage, ptxImage, putPieces, sha256 } from '../helpers/images.js';

const CUDA_ERROR_OUT_OF_MEMORY = 2;
const CUDA_ERROR_INVALID_IMAGE = 200;
const CUDA_ERROR_FILE_NOT_FOUND = 301;
const S = 1024;
const ROOMY: ImageLimits = { perVm: 1 << 30, total: 1 << 30 };

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function tempStore(): ImageStore {
  const d = mkdtempSync(join(tmpdir(), 'vgpu-images-'));
  temps.push(d);
  return new ImageStore(join(d, 'images'));
}

function hex(b: Buffer): string {
  return sha256(b).toString('hex');
}

/** Hashes of the images `vm` has on disk. */
function imagesOf(store: ImageStore, vm: string): string[] {
  const dir = join(store.dir, 'vms', vm);
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort() : [];
}

function blobs(store: ImageStore): string[] {
  const dir = join(store.dir, 'blobs');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** A process id that is not running any more. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(p.stdout);
}

// ---- formats -------------------------------------------------------------------------------------

function elfHeader(machine = 190, cls = 2): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = cls;
  b[5] = 1;
  b.writeUInt16LE(machine, 0x12);
  return b;
}

test('formats: fatbin containers, CUDA ELF cubins and NUL-terminated PTX are images', () => {
  const ptx = ptxImage('a');
  assert.equal(imageProblem(ptx), undefined);
  assert.equal(imageProblem(fatbinImage(ptx)), undefined);
  // An -rdc image: its linked container and its pre-link containers, in a row.
  assert.equal(imageProblem(Buffer.concat([fatbinImage(ptx), fatbinImage(ptxImage('b')), fatbinImage(ptx)])), undefined);
  assert.equal(imageProblem(elfHeader()), undefined);
  assert.equal(imageProblem(Buffer.from('\n\t/* a */ .version 8.0\n.target sm_80\n\0')), undefined);
});

test('formats: everything else is refused, with the reason', () => {
  const ptx = ptxImage('a');
  const fat = fatbinImage(ptx);
  const wrapper = Buffer.alloc(24);
  wrapper.writeUInt32LE(0x466243b1, 0);
  wrapper.writeUInt32LE(1, 4);
  wrapper.writeBigUInt64LE(0x7fff0000n, 8);
  const lying = Buffer.from(fat);
  lying.writeBigUInt64LE(BigInt(fat.length), 8); // entries past the container's end
  const entryPast = Buffer.from(fat);
  entryPast.writeBigUInt64LE(BigInt(fat.length * 2), 16 + 8);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['garbage text', Buffer.from('this is not a CUDA image, nor PTX, nor anything else at all\0'), /directive or a comment/],
    ['random bytes', Buffer.concat([Buffer.from([1, 2, 3, 4]), randomBytes(200)]), /./],
    ['a fatbin wrapper', wrapper, /wrapper/],
    ['a container followed by bytes that are no container', Buffer.concat([fat, Buffer.alloc(16)]), /no fatbin container at/],
    ['a container followed by a few stray bytes', Buffer.concat([fat, Buffer.alloc(8)]), /does not match/],
    ['a second container cut short', Buffer.concat([fat, fat.subarray(0, fat.length - 8)]), /past the image's end/],
    ['a container shorter than its header says', lying, /does not match/],
    ['an entry past the container', entryPast, /past the container/],
    ['an x86-64 ELF', elfHeader(62), /machine 62/],
    ['a 32-bit ELF', elfHeader(190, 1), /64-bit/],
    ['PTX without its NUL', ptx.subarray(0, ptx.length - 1), /NUL/],
    ['PTX with a NUL inside', Buffer.concat([ptx.subarray(0, 20), Buffer.from([0]), ptx.subarray(20)]), /0x00/],
    ['PTX without .target', Buffer.from('.version 7.0\n.address_size 64\n\0'), /\.target/],
    ['text that is not PTX', Buffer.from('// a comment\nint main() { return 0; }\n\0'), /\.version/],
  ];
  for (const [what, b, reason] of cases) assert.match(imageProblem(b) ?? 'accepted', reason, what);
});

// ---- the executor's handlers ---------------------------------------------------------------------

function driver(loads: Buffer[]): DriverApi {
  const fns: Partial<Record<keyof DriverApi, (...a: Array<Buffer | number | null>) => number>> = {
    cuModuleLoadData: (out, image) => {
      loads.push(image as Buffer);
      (out as Buffer).writeBigUInt64LE(0x1234n, 0);
      return 0;
    },
  };
  return new Proxy({}, { get: (_t, k: string) => fns[k as keyof DriverApi] ?? (() => 0) }) as unknown as DriverApi;
}

function session(store: ImageStore, vm: string, loads: Buffer[] = [], limits = ROOMY): ExecContext {
  return new ExecContext(driver(loads), [0], {}, { images: new SessionImages(store, vm, limits) });
}

/** Runs a handler as the serving loop does: a CudaError is the call's result. */
function call(x: ExecContext, op: number, args: (w: Writer) => void): { res: number; out: Buffer } {
  const a = new Writer();
  args(a);
  const w = new Writer();
  try {
    const res = OPS.get(op)!.run(x, new Reader(a.take()), w);
    return { res, out: Buffer.from(w.buf.subarray(0, w.len)) };
  } catch (e) {
    if (!(e instanceof CudaError)) throw e;
    return { res: e.code, out: Buffer.alloc(0) };
  }
}

function upload(x: ExecContext, image: Buffer, piece?: number): number {
  let first = 0;
  for (const p of putPieces(image, piece)) {
    const r = call(x, OP.vgImagePut, p).res;
    if (first === 0) first = r;
  }
  return first;
}

function have(x: ExecContext, image: Buffer): number {
  const r = call(x, OP.vgImageHave, (w) => w.raw(sha256(image)));
  assert.equal(r.res, 0);
  return r.out[0]!;
}

function load(x: ExecContext, hash: Buffer): number {
  return call(x, OP.cuModuleLoadData, (w) => w.raw(hash)).res;
}

test('a VM finds only the images it uploaded: another VM\'s answer is that of an unknown image', () => {
  const store = tempStore();
  const image = ptxImage('private');
  const aLoads: Buffer[] = [];
  const bLoads: Buffer[] = [];
  const a = session(store, 'a', aLoads);
  assert.equal(upload(a, image, 100), 0);
  assert.equal(have(a, image), 1);
  assert.equal(load(a, sha256(image)), 0);
  assert.deepEqual(aLoads, [image]);

  const b = session(store, 'b', bLoads);
  assert.equal(have(b, image), 0, 'VM b is not told that VM a has the image');
  assert.equal(have(b, ptxImage('never uploaded')), 0);
  assert.equal(load(b, sha256(image)), CUDA_ERROR_FILE_NOT_FOUND);
  assert.equal(load(b, sha256(ptxImage('never uploaded'))), CUDA_ERROR_FILE_NOT_FOUND);
  assert.deepEqual(bLoads, [], 'the driver never got VM a\'s image for VM b');
  // A later session of VM b does not find it either, and one of VM a does.
  assert.equal(have(session(store, 'b'), image), 0);
  assert.equal(have(session(store, 'a'), image), 1);

  // VM b proves it has the image by sending it; the disk keeps one copy.
  assert.equal(upload(b, image), 0);
  assert.equal(load(b, sha256(image)), 0);
  assert.deepEqual(blobs(store), [hex(image)]);
  assert.equal(statSync(join(store.dir, 'blobs', hex(image))).nlink, 3);
  const u = store.usage();
  assert.equal(u.total, image.length);
  assert.deepEqual([...u.vms].sort(), [['a', image.length], ['b', image.length]]);
});

test('an upload that is not a module is refused before anything is written', () => {
  const store = tempStore();
  const x = session(store, 'a');
  const garbage = Buffer.from('this is not a CUDA image, nor PTX, nor anything else at all\0');
  assert.equal(upload(x, garbage), CUDA_ERROR_INVALID_IMAGE);
  // Refused at its first piece (the pieces that follow fail as out of order) ...
  const early = Buffer.concat([Buffer.from('// x\n\x01'), Buffer.alloc(500, 0x41), Buffer.from([0])]);
  assert.equal(upload(x, early, 100), CUDA_ERROR_INVALID_IMAGE);
  // ... or, when its first piece looks right, once it is whole.
  const ptx = ptxImage('x');
  const late = Buffer.concat([ptx.subarray(0, 200), Buffer.from([0]), ptx.subarray(200)]);
  assert.equal(upload(x, late, 100), CUDA_ERROR_INVALID_IMAGE);
  assert.equal(have(x, garbage), 0);
  assert.equal(load(x, sha256(garbage)), CUDA_ERROR_FILE_NOT_FOUND);
  assert.ok(!existsSync(store.dir), 'nothing was written');
  // A real image still goes in afterwards.
  assert.equal(upload(x, ptxImage('fine')), 0);
});

test('an image over the per-VM or total limit is refused at its first piece', () => {
  const store = tempStore();
  const x = session(store, 'a', [], { perVm: 4 * S, total: 8 * S });
  assert.equal(upload(x, ptxImage('big', 5 * S), S), CUDA_ERROR_OUT_OF_MEMORY);
  const y = session(store, 'a', [], { perVm: 8 * S, total: 4 * S });
  assert.equal(upload(y, ptxImage('big', 5 * S), S), CUDA_ERROR_OUT_OF_MEMORY);
  assert.ok(!existsSync(store.dir));
});

// ---- limits and eviction -------------------------------------------------------------------------

test('over its limit, a VM loses its least recently used images that no live session holds', () => {
  const store = tempStore();
  const limits = { perVm: 3 * S, total: 1 << 30 };
  const [x, y, z, w] = ['x', 'y', 'z', 'w'].map((t) => ptxImage(t, S));
  for (const i of [x, y, z]) store.put('v', hex(i!), i!, limits);
  store.put('other', hex(y!), y!, limits);
  assert.ok(store.read('v', hex(x!)), 'x is used again: y is now the oldest');
  store.put('v', hex(w!), w!, limits);
  assert.deepEqual(imagesOf(store, 'v'), [x, z, w].map((i) => hex(i!)).sort());
  assert.deepEqual(imagesOf(store, 'other'), [hex(y!)], 'another VM\'s copy stays');
  assert.ok(blobs(store).includes(hex(y!)));

  // What a live session holds stays, however old; with nothing else to evict, the upload fails.
  store.hold('v', hex(z!));
  const u = ptxImage('u', S);
  store.put('v', hex(u), u, limits);
  assert.deepEqual(imagesOf(store, 'v'), [z, w, u].map((i) => hex(i!)).sort(), 'x went, z is held');
  store.hold('v', hex(w!));
  store.hold('v', hex(u));
  const t = ptxImage('t', S);
  assert.throws(() => store.put('v', hex(t), t, limits), ImageStoreFull);
  assert.deepEqual(imagesOf(store, 'v'), [z, w, u].map((i) => hex(i!)).sort());
  assert.ok(!blobs(store).includes(hex(x!)), 'x\'s bytes went with its last link');
  assert.ok(!blobs(store).includes(hex(t)));
  assert.deepEqual(readdirSync(join(store.dir, 'tmp')), [], 'the refused upload left nothing');

  // A lease of a process that is gone holds nothing.
  const leases = join(store.dir, 'vms', 'v', '.live');
  rmSync(join(leases, String(process.pid)));
  writeFileSync(join(leases, String(deadPid())), `${hex(z!)}\n`);
  store.put('v', hex(t), t, limits);
  assert.ok(!imagesOf(store, 'v').includes(hex(z!)));
  assert.deepEqual(readdirSync(leases), [], 'the dead process\'s lease is gone');
});

test('over the total limit, the least recently used images of any VM go; shared bytes count for each VM', () => {
  const store = tempStore();
  const limits = { perVm: 1 << 30, total: 3 * S };
  const [x, y, z, w] = ['x', 'y', 'z', 'w'].map((t) => ptxImage(t, S)) as [Buffer, Buffer, Buffer, Buffer];
  store.put('a', hex(x), x, limits);
  store.put('b', hex(y), y, limits);
  store.put('a', hex(z), z, limits);
  assert.ok(store.read('a', hex(x)), 'x is used again: y is the least recently used');
  // b's copy of x counts for b as if no VM had it: room is made, and b's own y goes.
  store.put('b', hex(x), x, limits);
  assert.deepEqual(imagesOf(store, 'b'), [hex(x)]);
  assert.deepEqual(blobs(store), [hex(x), hex(z)].sort());
  store.put('b', hex(w), w, limits);
  assert.deepEqual(imagesOf(store, 'a'), [hex(x)], 'a\'s z, now the least recently used, went');
  assert.deepEqual(imagesOf(store, 'b'), [hex(x), hex(w)].sort());
  const u = store.usage();
  assert.equal(u.total, 2 * S, 'on disk: x once, and w');
  assert.deepEqual([...u.vms].sort(), [['a', S], ['b', 2 * S]]);
  // With everything held, nothing can go.
  for (const [vm, i] of [['a', x], ['b', x], ['b', w]] as const) store.hold(vm, hex(i));
  assert.throws(() => store.put('c', hex(y), y, limits), ImageStoreFull);
});

test('removing a VM removes its images; bytes another VM has stay', () => {
  const store = tempStore();
  const [x, y] = [ptxImage('x'), ptxImage('y')];
  store.put('a', hex(x), x, ROOMY);
  store.put('a', hex(y), y, ROOMY);
  store.put('b', hex(x), x, ROOMY);
  store.removeVm('a');
  assert.ok(!existsSync(join(store.dir, 'vms', 'a')));
  assert.deepEqual(blobs(store), [hex(x)]);
  assert.equal(store.read('a', hex(x)), undefined);
  assert.deepEqual(store.read('b', hex(x)), x);
  store.removeVm('b');
  assert.deepEqual(blobs(store), []);
  store.removeVm('never-had-any');
});

test('the sweep deletes the images of VMs that no longer exist and what dead processes left', () => {
  const store = tempStore();
  const [x, y] = [ptxImage('x'), ptxImage('y')];
  store.put('kept', hex(x), x, ROOMY);
  store.put('gone', hex(y), y, ROOMY);
  const old = join(store.dir, hex(ptxImage('old layout')));
  writeFileSync(old, 'unowned');
  const orphan = join(store.dir, 'blobs', 'f'.repeat(64));
  writeFileSync(orphan, 'linked by no VM');
  const tmp = join(store.dir, 'tmp', `${'e'.repeat(64)}.${deadPid()}.abcdef`);
  writeFileSync(tmp, 'half an upload');
  store.sweep(new Set(['kept']), ROOMY);
  assert.ok(!existsSync(old) && !existsSync(orphan) && !existsSync(tmp));
  assert.ok(!existsSync(join(store.dir, 'vms', 'gone')));
  assert.deepEqual(blobs(store), [hex(x)]);
  assert.deepEqual(store.read('kept', hex(x)), x);
  // Limits lowered since the last start: the least recently used images go.
  const [y2, z] = [ptxImage('y2', S), ptxImage('z', S)];
  store.put('kept', hex(y2), y2, ROOMY);
  store.put('kept', hex(z), z, ROOMY);
  assert.ok(store.read('kept', hex(x)));
  store.sweep(new Set(['kept']), { perVm: x.length + S, total: 1 << 30 });
  assert.deepEqual(imagesOf(store, 'kept'), [hex(x), hex(z)].sort());
  store.sweep(new Set(['kept']), { perVm: 1 << 30, total: S });
  assert.deepEqual(blobs(store), [hex(x)], 'the total: the host\'s least recently used');
});

test('executors of one VM uploading at once keep it within its limit, with only whole images', async () => {
  const store = tempStore();
  const limits = { perVm: 6 * S, total: 1 << 30 };
  const mod = new URL('../../src/common/image-store.js', import.meta.url).href;
  // Each process stores 40 images, half of them the same in every process.
  const script = `
    import { createHash } from 'node:crypto';
    const { ImageStore } = await import(${JSON.stringify(mod)});
    const store = new ImageStore(process.argv[1]);
    for (let i = 0; i < 40; i++) {
      const tag = i % 2 ? 'shared ' + i : process.pid + ' ' + i;
      const b = Buffer.from('// ' + tag + '\\n//' + '.'.repeat(${S} - 40) + '\\n.version 7.0\\n.target sm_50\\n\\0', 'latin1');
      store.put('c', createHash('sha256').update(b).digest('hex'), b, ${JSON.stringify(limits)});
    }`;
  const runs = [1, 2, 3, 4, 5, 6].map(() => new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, store.dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', resolve);
  }));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0, 0, 0]);
  assert.ok(store.vmBytes('c') <= limits.perVm, `${store.vmBytes('c')} bytes kept`);
  for (const h of imagesOf(store, 'c')) {
    const b = readFileSync(join(store.dir, 'vms', 'c', h));
    assert.equal(createHash('sha256').update(b).digest('hex'), h, 'a whole image');
  }
  for (const h of blobs(store)) assert.equal(statSync(join(store.dir, 'blobs', h)).nlink, 2, 'every blob is linked');
  assert.deepEqual(readdirSync(join(store.dir, 'tmp')), []);
});
