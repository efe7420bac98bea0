// The module image store through a real mediator, driven by raw frames: a VM finds only the
// images it uploaded (asking for or loading another VM's answers as for an image nobody has),
// bytes that are not a module are refused and never stored, a VM over its limit loses its least
// recently used images but never one a live session holds, the store's use shows in `vm show`
// and /metrics, and removing a VM removes its images.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { Flag } from '../../src/protocol/constants.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { TestGuest } from '../helpers/guest.js';
import { ptxImage, putPieces, sha256 } from '../helpers/images.js';
import { BIN } from '../helpers/paths.js';

const CUDA_ERROR_OUT_OF_MEMORY = 2;
const CUDA_ERROR_INVALID_IMAGE = 200;
const CUDA_ERROR_FILE_NOT_FOUND = 301;
const S = 16 * 1024;

let m: RunningMediator;
before(async () => {
  m = await startMediator({ args: ['--image-store-vm-max', '40K', '--image-store-max', '1M'] });
});
after(async () => {
  await m?.stop();
});

function admin(...args: string[]): string {
  return execFileSync(join(BIN, 'vgpu-admin'), [...args, '--state-dir', m.stateDir], { encoding: 'utf8' });
}

function addVm(name: string): string {
  return admin('vm', 'add', name, '--print-token').trim().split('\n').at(-1)!;
}

interface Attached {
  g: TestGuest;
  ctx: number;
  session: number;
}

async function attach(token: string): Promise<Attached> {
  const g = await TestGuest.connect(m.socket);
  const session = (await g.hello(token)).sessionId;
  await g.attach();
  const rep = await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep!.result, 0);
  return { g, session, ctx: rep!.payload.readUInt32LE(0) + rep!.payload.readUInt32LE(4) * 2 ** 32 };
}

/** Ends the session and waits for its executor to exit (its hold on its images goes with it). */
async function end(a: Attached): Promise<void> {
  a.g.close();
  await m.waitForLog((l) => l.msg === 'executor exited' && l.session === String(a.session));
}

/** Uploads as the guest library does: pieces chained with MORE, one reply after the last. */
async function put(a: Attached, image: Buffer, piece = 4 * 1024 * 1024): Promise<number> {
  const pieces = putPieces(image, piece);
  for (const p of pieces.slice(0, -1)) await a.g.call(OP.vgImagePut, 0, p, Flag.MORE);
  return (await a.g.call(OP.vgImagePut, 0, pieces.at(-1)!))!.result;
}

async function have(a: Attached, image: Buffer): Promise<number> {
  const r = await a.g.call(OP.vgImageHave, 0, (w) => w.raw(sha256(image)));
  assert.equal(r!.result, 0);
  return r!.payload[0]!;
}

async function load(a: Attached, hash: Buffer): Promise<number> {
  return (await a.g.call(OP.cuModuleLoadData, a.ctx, (w) => w.raw(hash)))!.result;
}

function storedFor(vm: string): string[] {
  const dir = join(m.stateDir, 'images', 'vms', vm);
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort() : [];
}

function blobs(): string[] {
  const dir = join(m.stateDir, 'images', 'blobs');
  return existsSync(dir) ? readdirSync(dir) : [];
}

const hex = (b: Buffer): string => sha256(b).toString('hex');

test('a VM cannot learn of, or load, an image another VM uploaded', async () => {
  const image = ptxImage('secret of A');
  const tokenA = addVm('img-a');
  const a = await attach(tokenA);
  assert.equal(await have(a, image), 0);
  assert.equal(await put(a, image), 0);
  assert.equal(await load(a, sha256(image)), 0, 'A loads its image');

  const b = await attach(addVm('img-b'));
  assert.equal(await have(b, image), 0, 'B is not told that A has it');
  const unknown = sha256(ptxImage('nobody has this'));
  assert.equal(await load(b, sha256(image)), CUDA_ERROR_FILE_NOT_FOUND, 'B cannot load it by its hash');
  assert.equal(await load(b, unknown), CUDA_ERROR_FILE_NOT_FOUND, 'as for an image nobody has');

  // B may have the same image by uploading it; the host keeps one copy.
  assert.equal(await put(b, image), 0);
  assert.equal(await load(b, sha256(image)), 0);
  assert.deepEqual(blobs().filter((h) => h === hex(image)), [hex(image)]);
  await end(a);
  await end(b);
  // A later session of A finds it without uploading again.
  const a2 = await attach(tokenA);
  assert.equal(await have(a2, image), 1);
  await end(a2);
});

test('bytes that are not a module are refused with CUDA_ERROR_INVALID_IMAGE and not stored', async () => {
  const a = await attach(addVm('img-garbage'));
  const garbage = Buffer.from('this is not a CUDA image, nor PTX, nor anything else at all\0');
  assert.equal(await put(a, garbage), CUDA_ERROR_INVALID_IMAGE);
  const wrapper = Buffer.alloc(24);
  wrapper.writeUInt32LE(0x466243b1, 0);
  wrapper.writeUInt32LE(1, 4);
  wrapper.writeBigUInt64LE(0x400000n, 8); // an address in the guest
  assert.equal(await put(a, wrapper), CUDA_ERROR_INVALID_IMAGE);
  const ptx = ptxImage('almost');
  assert.equal(await put(a, ptx.subarray(0, ptx.length - 1)), CUDA_ERROR_INVALID_IMAGE, 'PTX without its NUL');
  assert.equal(await have(a, garbage), 0);
  assert.equal(await load(a, sha256(garbage)), CUDA_ERROR_FILE_NOT_FOUND);
  assert.deepEqual(storedFor('img-garbage'), []);
  assert.ok(!blobs().includes(hex(garbage)));
  // The session goes on.
  assert.equal(await put(a, ptx), 0);
  await end(a);
});

test('over its limit a VM loses its least recently used images, never one a live session holds', async () => {
  const token = addVm('img-lru');
  const [x, y, z, w] = ['x', 'y', 'z', 'w'].map((t) => ptxImage(t, S)) as [Buffer, Buffer, Buffer, Buffer];
  for (const i of [x, y]) {
    const s = await attach(token);
    assert.equal(await put(s, i, 4096), 0);
    await end(s);
  }
  const s1 = await attach(token);
  assert.equal(await have(s1, x), 1, 'x is used again: y is the least recently used');
  await end(s1);
  const s2 = await attach(token);
  assert.equal(await put(s2, z), 0, 'room is made for z under the 40 KiB limit');
  assert.deepEqual(storedFor('img-lru'), [hex(x), hex(z)].sort());
  // s2 holds z; a session that holds x too leaves nothing to evict.
  const s3 = await attach(token);
  assert.equal(await have(s3, x), 1);
  assert.equal(await put(s3, w), CUDA_ERROR_OUT_OF_MEMORY);
  assert.deepEqual(storedFor('img-lru'), [hex(x), hex(z)].sort());
  assert.equal(await load(s3, sha256(w)), CUDA_ERROR_FILE_NOT_FOUND);
  // An image larger than the limit is refused at once.
  assert.equal(await put(s3, ptxImage('huge', 41 * 1024)), CUDA_ERROR_OUT_OF_MEMORY);

  // What the VM keeps shows in vm show and /metrics.
  const shown = JSON.parse(admin('vm', 'show', 'img-lru', '--json')) as { imageStoreBytes: number };
  assert.equal(shown.imageStoreBytes, 2 * S);
  const metrics = await (await fetch(`${m.admin}/metrics`)).text();
  assert.match(metrics, new RegExp(`^vgpu_vm_image_store_bytes\\{vm="img-lru"\\} ${2 * S}$`, 'm'));
  assert.match(metrics, /^vgpu_image_store_limit_bytes\{scope="vm"\} 40960$/m);
  await end(s2);
  await end(s3);
});

test('removing a VM removes its images', async () => {
  const token = addVm('img-rm');
  const mine = ptxImage('only img-rm has this');
  const shared = ptxImage('img-rm and img-keep have this');
  const s = await attach(token);
  assert.equal(await put(s, mine), 0);
  assert.equal(await put(s, shared), 0);
  const k = await attach(addVm('img-keep'));
  assert.equal(await put(k, shared), 0);
  admin('vm', 'rm', 'img-rm');
  s.g.close();
  assert.ok(!existsSync(join(m.stateDir, 'images', 'vms', 'img-rm')));
  assert.ok(!blobs().includes(hex(mine)), 'bytes no other VM has are gone');
  assert.ok(blobs().includes(hex(shared)), 'bytes another VM has stay');
  assert.equal(await load(k, sha256(shared)), 0);
  const metrics = await (await fetch(`${m.admin}/metrics`)).text();
  assert.doesNotMatch(metrics, /^vgpu_vm_image_store_bytes\{vm="img-rm"\}/m);
  await end(k);
});
