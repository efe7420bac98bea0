// Shared memory for bulk copies (docs/protocol.md, "Shared memory"): a local guest's page-locked
// memory lives in a memfd its executor maps, a VM's in the VM's file from the store, and copies
// from and to it never cross the socket (the host's vgpu_vm_shm_bytes_total counts them). A hand-written guest shows what the executor
// refuses: ranges outside the region (an error for that call, the session goes on), an unsealed
// memfd, and a descriptor missing where one was promised (that connection ends, no other).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Flag, FrameType } from '../../src/protocol/constants.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildProgram, runGuest, startGuest } from '../helpers/programs.js';
import { closeFd, makeMemfd, readAt, sendWithFd, writeAt } from '../helpers/shm.js';

const CUDA_ERROR_INVALID_VALUE = 1;
const CUDA_ERROR_NOT_FOUND = 500;
const FD_BYTE = 0x53;
const MIB = 1 << 20;

let m: RunningMediator;
before(async () => {
  m = await startMediator({ tcp: true, env: { VGPU_LOG: 'info' } });
});
after(async () => {
  await m?.stop();
});

async function shmBytes(vm: string): Promise<{ in: number; out: number }> {
  const s = await scrape(m.admin!);
  return { in: s.value('vgpu_vm_shm_bytes_total', { vm, direction: 'in' }), out: s.value('vgpu_vm_shm_bytes_total', { vm, direction: 'out' }) };
}

async function socketBytesIn(vm: string): Promise<number> {
  return (await scrape(m.admin!)).value('vgpu_vm_bytes_total', { vm, direction: 'in' });
}

/** Waits until `pred` holds (the ended session's last usage report is in), at most 30 s. */
async function eventually(pred: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await pred()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** The counters once the ended session's last usage report is in. */
async function shmBytesReaching(vm: string, want: { in: number; out: number }): Promise<{ in: number; out: number }> {
  await eventually(async () => {
    const got = await shmBytes(vm);
    return got.in >= want.in && got.out >= want.out;
  });
  return shmBytes(vm);
}

function assertAllOk(out: string, code: number | null, stderr: string): { in: number; out: number } {
  const bad = out.split('\n').filter((l) => l.startsWith('not ok'));
  assert.deepEqual(bad, [], `failed checks:\n${bad.join('\n')}\nstderr:\n${stderr.slice(-4000)}`);
  assert.equal(code, 0, stderr.slice(-4000));
  const mm = /# shm-bytes (\d+) (\d+)/.exec(out);
  assert.ok(mm, out);
  return { in: Number(mm[1]), out: Number(mm[2]) };
}

test('page-locked copies of a local guest go through shared memory, byte for byte', async () => {
  const before = await shmBytes('local');
  const r = await runGuest(buildProgram('shm_copy'), ['--server', m.server], {});
  const moved = assertAllOk(r.stdout, r.code, r.stderr);
  const want = { in: before.in + moved.in, out: before.out + moved.out };
  assert.deepEqual(await shmBytesReaching('local', want), want, 'every page-locked byte moved through the region, none other');
});

test('with VGPU_SHM_SIZE=0, or over TCP, the same copies go through the socket', async () => {
  const token = await m.addVm('shm-tcp');
  for (const [vm, args, env] of [
    ['local', ['--server', m.server], { VGPU_SHM_SIZE: '0' }],
    // Compression off: the bytes are counted as they cross the socket (docs/protocol.md, Compression).
    ['shm-tcp', ['--server', m.tcp!, '--token', token], { VGPU_COMPRESSION: 'off' }],
  ] as const) {
    const before = await shmBytes(vm);
    const sockBefore = await socketBytesIn(vm);
    const r = await runGuest(buildProgram('shm_copy'), [...args], env);
    const moved = assertAllOk(r.stdout, r.code, r.stderr);
    // The session's reports (shared-memory counts included) are in once the socket's are.
    await eventually(async () => (await socketBytesIn(vm)) >= sockBefore + moved.in);
    assert.ok((await socketBytesIn(vm)) >= sockBefore + moved.in, `${vm}: the page-locked bytes crossed the socket`);
    assert.deepEqual(await shmBytes(vm), before, `${vm}: nothing through shared memory`);
  }
});

/** A hand-written guest, attached, that has offered `fd` (sealed or not) as its region. */
async function offered(fd: number | undefined, size: number, byte = FD_BYTE): Promise<TestGuest> {
  const g = await TestGuest.connect(m.socket);
  await g.hello();
  await g.attach();
  const r = await g.call(OP.vgShmOffer, 0, (w) => w.u64(size));
  assert.equal(r?.result, 0, 'the executor takes the offer');
  sendWithFd(g.sock, byte, fd);
  return g;
}

async function check(g: TestGuest, offset: number, nonce: Buffer): Promise<{ result: number; payload: Buffer }> {
  const r = await g.call(OP.vgShmCheck, 0, (w) => {
    w.u64(offset);
    w.raw(nonce);
  });
  assert.ok(r);
  return r;
}

test('the executor checks every range against the region it mapped itself; a bad one fails that call only', async () => {
  const fd = makeMemfd(MIB);
  const nonce = Buffer.from('0123456789abcdef');
  writeAt(fd, 4096, nonce);
  const g = await offered(fd, 64 * MIB); // the guest's word for the size is not what counts
  const ok = await check(g, 4096, nonce);
  assert.equal(ok.result, 0);
  assert.equal(ok.payload.readBigUInt64LE(0), BigInt(MIB), 'the size the executor measured');
  assert.equal((await check(g, 0, nonce)).result, CUDA_ERROR_NOT_FOUND, 'another nonce: not the same memory');
  const copies: Array<[string, number, (o: number, n: number) => (w: import('../../src/protocol/writer.js').Writer) => void]> = [
    ['vgShmHtoD', OP.vgShmHtoD, (o, n) => (w) => { w.u64(0x1000); w.u64(o); w.u64(n); w.u32(0); }],
    ['vgShmDtoH', OP.vgShmDtoH, (o, n) => (w) => { w.u64(o); w.u64(0x1000); w.u64(n); w.u32(0); }],
    ['vgShmDtoHAsync', OP.vgShmDtoHAsync, (o, n) => (w) => { w.u64(o); w.u64(0x1000); w.u64(n); w.u64(0); w.u32(0); }],
  ];
  for (const [name, op, args] of copies) {
    for (const [o, n] of [[MIB - 10, 20], [MIB, 1], [0, MIB + 1], [2 ** 52, 16], [16, 2 ** 53 - 1]] as const) {
      const r = await g.call(op, 0, args(o, n));
      assert.equal(r?.result, CUDA_ERROR_INVALID_VALUE, `${name} of ${o}+${n} is refused`);
    }
  }
  // Fire-and-forget: the refusal is the session's deferred error, reported by the next sync call.
  await g.call(OP.vgShmHtoDAsync, 0, (w) => { w.u64(0x1000); w.u64(MIB); w.u64(4096); w.u64(0); w.u32(0); }, Flag.NOREPLY);
  assert.equal((await check(g, 4096, nonce)).result, 0, 'the session goes on');
  assert.equal(readAt(fd, 0, 16).equals(Buffer.alloc(16)), true, 'nothing was written into the region');

  // Pinning (registering blocks with the host driver) takes a context, ranges inside the region,
  // and each block once.
  const retained = await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(retained?.result, 0);
  const ctx = Number(retained.payload.readBigUInt64LE(0));
  const pin = async (o: number, n: number): Promise<number | undefined> => (await g.call(OP.vgShmPin, ctx, (w) => { w.u64(o); w.u64(n); }))?.result;
  const unpin = async (o: number): Promise<number | undefined> => (await g.call(OP.vgShmUnpin, ctx, (w) => w.u64(o)))?.result;
  assert.equal(await pin(MIB - 4096, 8192), CUDA_ERROR_INVALID_VALUE, 'a block past the end');
  assert.equal(await pin(4096, 0), CUDA_ERROR_INVALID_VALUE, 'an empty block');
  assert.equal(await pin(4096, 8192), 0);
  assert.equal(await pin(4096, 8192), CUDA_ERROR_INVALID_VALUE, 'the same block twice');
  assert.equal(await unpin(8192), CUDA_ERROR_INVALID_VALUE, 'no block there');
  assert.equal(await unpin(4096), 0);
  assert.equal(await unpin(4096), CUDA_ERROR_INVALID_VALUE, 'already released');
  g.close();
  closeFd(fd);
});

test('a memfd that could shrink under the mapping is refused, and the session goes on', async () => {
  const fd = makeMemfd(MIB, false);
  const nonce = Buffer.from('fedcba9876543210');
  writeAt(fd, 0, nonce);
  const g = await offered(fd, MIB);
  const r = await check(g, 0, nonce);
  assert.equal(r.result, CUDA_ERROR_NOT_FOUND, 'no region');
  const h = await g.call(OP.vgShmHtoD, 0, (w) => { w.u64(0x1000); w.u64(0); w.u64(16); w.u32(0); });
  assert.equal(h?.result, CUDA_ERROR_NOT_FOUND, 'copies through it are refused');
  assert.equal((await g.call(OP.vgShmOffer, 0, (w) => w.u64(MIB)))?.result, 0, 'it may offer another');
  const fd2 = makeMemfd(MIB);
  writeAt(fd2, 0, nonce);
  sendWithFd(g.sock, FD_BYTE, fd2);
  assert.equal((await check(g, 0, nonce)).result, 0, 'a sealed one is taken');
  assert.equal((await g.call(OP.vgShmOffer, 0, (w) => w.u64(MIB)))?.result, CUDA_ERROR_INVALID_VALUE, 'one region per session');
  g.close();
  closeFd(fd);
  closeFd(fd2);
});

test('a promised descriptor that does not come ends that connection, and no other', async () => {
  const fd = makeMemfd(MIB);
  const nonce = Buffer.from('aaaaaaaaaaaaaaaa');
  writeAt(fd, 0, nonce);
  const good = await offered(fd, MIB);
  for (const [byte, desc] of [[FD_BYTE, undefined], [0x41, fd]] as const) {
    const bad = await offered(desc, MIB, byte);
    const f = await bad.answer();
    assert.equal(f?.type, FrameType.ERROR, 'answered ERROR');
    assert.match(decodeStatus(f.payload).message, /descriptor/);
    await bad.waitClosed();
  }
  assert.equal((await check(good, 0, nonce)).result, 0, 'the other session is untouched');
  good.close();
  closeFd(fd);
});

// A VM's region: the file the store names for the VM, mapped by its executors; the guest maps the
// same bytes as its ivshmem BAR (here the file itself, through VGPU_SHM_DEVICE, as the QEMU test
// does through the real device: test/vm/).
test("a VM's guests copy through the VM's shared memory file; another VM's guests never reach it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-shm-'));
  try {
    const file = join(dir, 'vm.shm');
    const otherFile = join(dir, 'other.shm');
    for (const f of [file, otherFile]) {
      writeFileSync(f, '');
      truncateSync(f, 256 * MIB);
    }
    const token = await m.addVm('shm-vm', { shmPath: file });
    const clash = await m.api('POST', '/v1/vms', { name: 'shm-clash', shmPath: file });
    assert.equal(clash.status, 409, 'one file belongs to one VM');
    const noneToken = await m.addVm('shm-none');
    const otherToken = await m.addVm('shm-other', { shmPath: otherFile });
    const prog = buildProgram('shm_copy');

    const before = await shmBytes('shm-vm');
    const r = await runGuest(prog, ['--server', m.tcp!, '--token', token], { VGPU_SHM_DEVICE: file });
    const moved = assertAllOk(r.stdout, r.code, r.stderr);
    const want = { in: before.in + moved.in, out: before.out + moved.out };
    assert.deepEqual(await shmBytesReaching('shm-vm', want), want, 'every page-locked byte moved through the VM file');

    // Guests of other VMs pointing at shm-vm's file: their executors map their own VM's file or
    // none, so the check fails and their copies go through the socket.
    for (const [vm, tok] of [['shm-none', noneToken], ['shm-other', otherToken]] as const) {
      const sockBefore = await socketBytesIn(vm);
      const o = await runGuest(prog, ['--server', m.tcp!, '--token', tok], { VGPU_SHM_DEVICE: file });
      const om = assertAllOk(o.stdout, o.code, o.stderr);
      await eventually(async () => (await socketBytesIn(vm)) >= sockBefore + om.in);
      assert.deepEqual(await shmBytes(vm), { in: 0, out: 0 }, `${vm}: nothing through shared memory`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The slices a VM's region file records (docs/virtual-machines.md, "Shared memory"). */
function slices(file: string): Array<{ pid: number; off: number; len: number }> {
  const b = readFileSync(file).subarray(0, 4096);
  assert.equal(b.readBigUInt64LE(0), 0x314d485355504756n, 'the table magic');
  const out = [];
  for (let i = 0; i < b.readUInt32LE(8); i++) {
    const at = 16 + i * 24;
    const pid = b.readUInt32LE(at);
    if (pid !== 0) out.push({ pid, off: Number(b.readBigUInt64LE(at + 8)), len: Number(b.readBigUInt64LE(at + 16)) });
  }
  return out;
}

test("a VM's processes each take a slice of its region, and the slices of processes that are gone are taken again", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-shm-'));
  try {
    const file = join(dir, 'vm.shm');
    writeFileSync(file, '');
    truncateSync(file, 256 * MIB);
    const token = await m.addVm('shm-slices', { shmPath: file });
    const prog = buildProgram('shm_copy');
    const env = (size: string): Record<string, string> => ({ VGPU_SHM_DEVICE: file, VGPU_SHM_SIZE: size });
    // Two processes at once, each holding its page-locked memory until told to finish.
    const held = [startGuest(m.tcp!, token, prog, ['20', 'hold'], env('100M')), startGuest(m.tcp!, token, prog, ['20', 'hold'], env('100M'))];
    await Promise.all(held.map((g) => g.waitFor(/^# holding/)));
    const two = slices(file);
    assert.equal(two.length, 2, JSON.stringify(two));
    const [s1, s2] = two.sort((x, y) => x.off - y.off);
    assert.ok(s1!.off >= 4096 && s1!.len === 100 * MIB && s1!.off + s1!.len <= s2!.off && s2!.len === 100 * MIB, JSON.stringify(two));
    const done = await Promise.all(held.map(async (g) => {
      g.release();
      const code = await g.done;
      return assertAllOk(g.lines.join('\n'), code, g.stderr());
    }));
    // Both processes have exited: a third wanting more than what they left free gets their space.
    const r = await runGuest(prog, ['--server', m.tcp!, '--token', token], env('200M'), 120_000, ['20']);
    const c = assertAllOk(r.stdout, r.code, r.stderr);
    const one = slices(file);
    assert.equal(one.length, 1, JSON.stringify(one));
    assert.equal(one[0]!.len, 200 * MIB);
    const want = { in: done[0]!.in + done[1]!.in + c.in, out: done[0]!.out + done[1]!.out + c.out };
    assert.deepEqual(await shmBytesReaching('shm-slices', want), want, 'every copy of the three went through the region');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
