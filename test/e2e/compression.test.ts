// Compression on remote links (docs/protocol.md, "Compression"): negotiated only with a guest of
// protocol minor 5 or later that offers it, over tcp: (never over a Unix socket); what it carries
// arrives exactly, compressible or not; and a hostile compressed frame (a size beyond the frame
// limit, a block that is not LZ4, compression that was never negotiated) ends that connection
// only. Asserted: the handshake's flags, the bytes the host recorded receiving (/metrics), the data
// the guests read back, and the ERROR frames hostile guests get.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Flag, FrameType, HelloFlag, HostFlag, MAX_PAYLOAD } from '../../src/protocol/constants.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildProgram, runGuest } from '../helpers/programs.js';

const MIB = 2 ** 20;
const COPY_MIB = 24;

let m: RunningMediator;
let prog: string;

before(async () => {
  m = await startMediator({ tcp: true });
  prog = buildProgram('stage_copy');
});
after(async () => {
  await m?.stop();
});

function tcpAddr(): [string, number] {
  const [host, port] = m.tcp!.slice('tcp:'.length).split(':');
  return [host!, Number(port)];
}

/** Bytes the host received from the VM's guests, once its executors' last reports are in. */
async function bytesIn(vm: string, atLeast: number): Promise<number> {
  let v = 0;
  for (let i = 0; i < 120; i++) {
    v = (await scrape(m.admin!)).value('vgpu_vm_bytes_total', { vm, direction: 'in' });
    if (v >= atLeast) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return v;
}

/** Copies COPY_MIB of `kind` data over `server` as a new VM and reads it back. */
async function copyAs(vm: string, server: string, kind: 'pattern' | 'random'): Promise<void> {
  const token = await m.addVm(vm);
  const r = await runGuest(prog, ['--server', server, '--token', token], { VGPU_SHM_SIZE: '0' }, 120_000, [String(COPY_MIB), kind]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^ok - every byte arrived$/m);
  assert.match(r.stdout, /^ok - every byte arrived asynchronously$/m);
}

test('the WELCOME offers compression to a minor-5 guest that asks, over tcp: only', async () => {
  const token = await m.addVm('handshakes');
  const [host, port] = tcpAddr();
  const tcp = await TestGuest.connectTcp(host, port);
  const offered = await tcp.hello(token, { flags: HelloFlag.LZ4 });
  assert.equal(offered.hostFlags & HostFlag.LZ4, HostFlag.LZ4);
  tcp.close();
  const notAsked = await TestGuest.connectTcp(host, port);
  assert.equal((await notAsked.hello(token)).hostFlags & HostFlag.LZ4, 0, 'a guest that does not offer it');
  notAsked.close();
  const older = await TestGuest.connectTcp(host, port);
  const wl = await older.hello(token, { minor: 4, flags: HelloFlag.LZ4 });
  assert.equal(wl.minor, 4, 'an older guest is answered in its minor');
  assert.equal(wl.hostFlags & HostFlag.LZ4, 0, 'and never offered compression');
  older.close();
  const unix = await TestGuest.connect(m.socket);
  assert.equal((await unix.hello(token, { flags: HelloFlag.LZ4 })).hostFlags & HostFlag.LZ4, 0, 'never over a Unix socket');
  unix.close();
});

test('over tcp: compressible data crosses compressed and arrives exactly; random data crosses as it is', async () => {
  await copyAs('tcp-pattern', m.tcp!, 'pattern');
  await copyAs('tcp-random', m.tcp!, 'random');
  await copyAs('unix-pattern', m.server, 'pattern');
  const data = COPY_MIB * MIB;
  // The data goes up twice (a synchronous and an asynchronous copy) and comes back twice; only
  // the way up is compressed.
  const pattern = await bytesIn('tcp-pattern', 1);
  assert.ok(pattern > 0 && pattern < data / 2, `received ${pattern} bytes for ${data} of compressible data over tcp:`);
  assert.ok(await bytesIn('tcp-random', data) >= data, 'random data is sent as it is');
  assert.ok(await bytesIn('unix-pattern', data) >= data, 'nothing is compressed over a Unix socket');
});

/** An attached session over tcp: that negotiated compression (or, with `unix`, one that did not). */
async function attached(vm: string, unix = false): Promise<TestGuest> {
  const token = await m.addVm(vm);
  const [host, port] = tcpAddr();
  const g = unix ? await TestGuest.connect(m.socket) : await TestGuest.connectTcp(host, port);
  const wl = await g.hello(token, { flags: HelloFlag.LZ4 });
  assert.equal((wl.hostFlags & HostFlag.LZ4) !== 0, !unix);
  await g.attach();
  return g;
}

/** A compressed CALL of cuCtxSynchronize whose payload is `size` then `block`. */
function compressedCall(size: number, block: Buffer): Buffer {
  const p = Buffer.alloc(4 + block.length);
  p.writeUInt32LE(size, 0);
  block.copy(p, 4);
  return encodeFrame(FrameType.CALL, Flag.LZ4, 1, OP.cuCtxSynchronize, p);
}

async function endsWithProtocolError(g: TestGuest, frame: Buffer, why: RegExp): Promise<void> {
  g.send(frame);
  const f = await g.answer();
  assert.equal(f?.type, FrameType.ERROR);
  const st = decodeStatus(f.payload);
  assert.equal(st.code, WireStatus.PROTOCOL);
  assert.match(st.message, why);
  await g.waitClosed();
}

test('a hostile compressed frame ends its connection only', async () => {
  const bystander = await attached('bystander');
  // A decompression bomb: a tiny block claiming more than any frame may carry.
  await endsWithProtocolError(await attached('bomb'), compressedCall(MAX_PAYLOAD + 1, Buffer.alloc(16)), /more than a frame may carry/);
  await endsWithProtocolError(await attached('bomb-max'), compressedCall(0xffffffff, Buffer.alloc(16)), /more than a frame may carry/);
  // A block that is not LZ4, and one that decompresses to fewer bytes than it claims.
  await endsWithProtocolError(await attached('junk'), compressedCall(4096, Buffer.alloc(64, 0xff)), /not a valid LZ4 block|decompressed to/);
  await endsWithProtocolError(await attached('short'), compressedCall(64, Buffer.from([0x10, 0x41])), /not a valid LZ4 block|decompressed to/);
  await endsWithProtocolError(await attached('tiny'), encodeFrame(FrameType.CALL, Flag.LZ4, 1, OP.cuCtxSynchronize, Buffer.alloc(2)), /shorter than its size/);
  // Compression never negotiated (a Unix socket).
  await endsWithProtocolError(await attached('unnegotiated', true), compressedCall(8, Buffer.from([0x80, 1, 2, 3, 4, 5, 6, 7, 8])), /did not negotiate/);
  const rep = await bystander.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep?.result, 0, 'the other session goes on');
  bystander.close();
});
