// NVIDIA's own nvidia-smi (535) runs against vgpu's libnvidia-ml.so.1 through a real mediator on
// softgpu: the default table, -q, and --query-gpu as CSV. Every identity value it prints must be
// what the CUDA driver API reports in the same kind of guest (name, memory, PCI bus id, UUID,
// compute capability), and the driver branch must satisfy Ollama's >= 550/570 checks.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { getNvidiaSmi } from '../helpers/nvidia-smi.js';
import { BIN, ROOT } from '../helpers/paths.js';
import { buildProgram, startGuest } from '../helpers/programs.js';
import { compatibleDriverString, welcomeExt, welcomeMinor } from '../../src/mediator/identity.js';
import { FrameType, PROTO_MAJOR, PROTO_MINOR } from '../../src/protocol/constants.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { FrameParser, encodeFrame } from '../../src/protocol/frame.js';
import { decodeHello, decodeWelcome, encodeWelcome, type Welcome } from '../../src/protocol/handshake.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runGuest(server: string, token: string | undefined, cmd: string[], env: Record<string, string> = {}): Promise<Run> {
  const args = ['--server', server, ...(token ? ['--token', token] : []), '--', ...cmd];
  return new Promise((resolve, reject) => {
    const p = spawn(join(BIN, 'vgpu-run'), args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd.join(' ')} timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

interface CudaDevice {
  name: string;
  totalMem: number;
  pciBusId: string;
  uuid: string;
  cc: string;
}

// The CUDA side, asked through vgpu's libcuda.so.1 in a separate guest process (koffi).
const CUDA_PROBE = `
import koffi from 'koffi';
const l = koffi.load('libcuda.so.1');
const f = (s) => l.func(s);
const cuInit = f('int cuInit(unsigned int)');
const cuDeviceGetCount = f('int cuDeviceGetCount(void *)');
const cuDeviceGet = f('int cuDeviceGet(void *, int)');
const cuDeviceGetName = f('int cuDeviceGetName(void *, int, int)');
const cuDeviceTotalMem = f('int cuDeviceTotalMem_v2(void *, int)');
const cuDeviceGetPCIBusId = f('int cuDeviceGetPCIBusId(void *, int, int)');
const cuDeviceGetUuid = f('int cuDeviceGetUuid(void *, int)');
const cuDeviceGetAttribute = f('int cuDeviceGetAttribute(void *, int, int)');
const ok = (r, what) => { if (r !== 0) throw new Error(what + ' failed: ' + r); };
const str = (b) => b.toString('utf8', 0, b.indexOf(0));
ok(cuInit(0), 'cuInit');
const o = Buffer.alloc(8);
ok(cuDeviceGetCount(o), 'cuDeviceGetCount');
const n = o.readInt32LE(0), out = [];
for (let i = 0; i < n; i++) {
  ok(cuDeviceGet(o, i), 'cuDeviceGet');
  const d = o.readInt32LE(0);
  const name = Buffer.alloc(256), pci = Buffer.alloc(64), uuid = Buffer.alloc(16), mem = Buffer.alloc(8), a = Buffer.alloc(4), b = Buffer.alloc(4);
  ok(cuDeviceGetName(name, 256, d), 'cuDeviceGetName');
  ok(cuDeviceTotalMem(mem, d), 'cuDeviceTotalMem');
  ok(cuDeviceGetPCIBusId(pci, 64, d), 'cuDeviceGetPCIBusId');
  ok(cuDeviceGetUuid(uuid, d), 'cuDeviceGetUuid');
  ok(cuDeviceGetAttribute(a, 75, d), 'cc major');
  ok(cuDeviceGetAttribute(b, 76, d), 'cc minor');
  out.push({ name: str(name), totalMem: Number(mem.readBigUInt64LE(0)), pciBusId: str(pci), uuid: uuid.toString('hex'),
    cc: a.readInt32LE(0) + '.' + b.readInt32LE(0) });
}
console.log(JSON.stringify(out));
`;

async function cudaDevices(server: string, token?: string): Promise<CudaDevice[]> {
  const r = await runGuest(server, token, [process.execPath, '--input-type=module', '-e', CUDA_PROBE]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CudaDevice[];
}

function nvmlUuid(hex: string): string {
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** "0000:7f:00.0" and "00000000:7F:00.0" name the same device. */
function pciKey(id: string): string {
  const m = /^([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.([0-9a-f])$/i.exec(id.trim());
  assert.ok(m, `not a PCI bus id: ${id}`);
  return m.slice(1).map((x) => parseInt(x, 16)).join(':');
}

const smi = getNvidiaSmi();
const skip = 'skip' in smi ? smi.skip : false;
const SMI = 'path' in smi ? smi.path : '';
let m: RunningMediator;

before(async () => {
  if (!skip) m = await startMediator({ tcp: true });
});
after(async () => {
  await m?.stop();
});

test('nvidia-smi prints the default table from the WELCOME device table', { skip }, async () => {
  const [dev] = await cudaDevices(m.server);
  const r = await runGuest(m.server, undefined, [SMI]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /NVIDIA-SMI 535\.\d+/);
  const drv = /Driver Version: (\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
  assert.ok(drv, r.stdout);
  assert.equal(`${drv[1]}.${drv[2]}.${drv[3]}`, compatibleDriverString(13000));
  assert.ok(Number(drv[1]) >= 580, 'the CUDA 13.0 driver branch, past Ollama\'s 550/570 checks');
  assert.match(r.stdout, /CUDA Version: 13\.0/);
  assert.ok(r.stdout.includes(dev!.name.slice(0, 20)), `device name in:\n${r.stdout}`);
  assert.match(r.stdout, new RegExp(`\\b0MiB /\\s+${dev!.totalMem / 2 ** 20}MiB`));
  const bus = /\| ([0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.0) /.exec(r.stdout);
  assert.ok(bus, r.stdout);
  assert.equal(pciKey(bus[1]!), pciKey(dev!.pciBusId));
  assert.match(r.stdout, /No running processes found/);
});

test('nvidia-smi --query-gpu CSV matches the CUDA driver API field by field', { skip }, async () => {
  const cuda = await cudaDevices(m.server);
  const q = 'index,name,memory.total,memory.used,pci.bus_id,uuid,driver_version,compute_cap,count';
  const r = await runGuest(m.server, undefined, [SMI, `--query-gpu=${q}`, '--format=csv,noheader,nounits']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const rows = r.stdout.trim().split('\n').map((l) => l.split(',').map((s) => s.trim()));
  assert.equal(rows.length, cuda.length, 'NVML and CUDA agree on the device count');
  rows.forEach((row, i) => {
    const [index, name, total, used, bus, uuid, drv, cc, count] = row;
    const dev = cuda[i]!;
    assert.equal(Number(index), i, 'same order');
    assert.equal(name, dev.name);
    assert.equal(Number(total), dev.totalMem / 2 ** 20);
    assert.equal(Number(used), 0);
    assert.equal(pciKey(bus!), pciKey(dev.pciBusId));
    assert.equal(uuid, nvmlUuid(dev.uuid));
    assert.equal(drv, compatibleDriverString(13000));
    assert.equal(cc, dev.cc);
    assert.equal(Number(count), cuda.length);
  });
});

test("nvidia-smi -q reports the same identity, and softgpu's board values are its synthetic constants", { skip }, async () => {
  const [dev] = await cudaDevices(m.server);
  const r = await runGuest(m.server, undefined, [SMI, '-q']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const field = (label: string): string => {
    const mm = new RegExp(`^\\s*${label}\\s*: (.*)$`, 'm').exec(r.stdout);
    assert.ok(mm, `${label} in:\n${r.stdout}`);
    return mm[1]!.trim();
  };
  assert.equal(field('Product Name'), dev!.name);
  assert.equal(field('GPU UUID'), nvmlUuid(dev!.uuid));
  assert.equal(pciKey(field('Bus Id')), pciKey(dev!.pciBusId));
  assert.equal(field('Attached GPUs'), '1');
  assert.equal(field('Total'), `${dev!.totalMem / 2 ** 20} MiB`);
  assert.equal(field('Driver Version'), compatibleDriverString(13000));
  assert.equal(field('Current'), 'Disabled', 'MIG mode is disabled');
  assert.equal(field('Compute Mode'), 'Default');
  // softgpu's synthetic board: plainly constant values (docs/guest.md).
  assert.equal(field('GPU Current Temp'), '35 C');
  assert.equal(field('Power Draw'), '20.00 W');
});

test('the VM memory quota is memory.total in NVML as in CUDA (TCP, VM token)', { skip }, async () => {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'nvml-quota', '--state-dir', m.stateDir, '--memory', '1G', '--print-token'], { encoding: 'utf8' });
  const token = out.trim().split('\n').at(-1)!;
  const [dev] = await cudaDevices(m.tcp!, token);
  assert.equal(dev!.totalMem, 2 ** 30);
  const r = await runGuest(m.tcp!, token, [SMI, '--query-gpu=memory.total,uuid', '--format=csv,noheader,nounits']);
  assert.equal(r.code, 0, r.stderr);
  const [total, uuid] = r.stdout.trim().split(',').map((s) => s.trim());
  assert.equal(Number(total), 1024);
  assert.equal(uuid, nvmlUuid(dev!.uuid), 'the VM\'s own vGPU UUID, the same in both libraries');
});

test("nvidia-smi's process table and --query-compute-apps list a running guest process with its memory", { skip }, async () => {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'nvml-procs', '--state-dir', m.stateDir, '--memory', '1G', '--print-token'], { encoding: 'utf8' });
  const token = out.trim().split('\n').at(-1)!;
  const holder = startGuest(m.server, token, buildProgram('quota'), ['alloc:300', 'hold']);
  try {
    await holder.waitFor(/holding/);
    // The host's accounting of the session catches up with the allocation within its report period.
    let csv = '';
    for (let i = 0; i < 100 && !csv.includes(' 300 MiB'); i++) {
      const q = await runGuest(m.server, token, [SMI, '--query-compute-apps=pid,used_memory', '--format=csv,noheader']);
      assert.equal(q.code, 0, q.stderr);
      csv = q.stdout.trim();
      if (!csv.includes(' 300 MiB')) await new Promise((r) => setTimeout(r, 50));
    }
    const [pid, used] = csv.split(',').map((f) => f.trim());
    assert.match(pid!, /^\d+$/, csv);
    assert.equal(used, '300 MiB', csv);
    const t = await runGuest(m.server, token, [SMI]);
    assert.equal(t.code, 0, t.stderr);
    const row = t.stdout.split('\n').find((l) => new RegExp(`\\s${pid}\\s+C\\s`).test(l));
    assert.ok(row, `no row for pid ${pid} in:\n${t.stdout}`);
    assert.match(row, /test-programs\/quota\s+300MiB \|$/);
    assert.doesNotMatch(t.stdout, /No running processes found/);
  } finally {
    holder.release();
    await holder.done;
  }
});

test('nvidia-smi reports a missing driver, and exits non-zero, when the host is unreachable', { skip }, async () => {
  const r = await runGuest('unix:/nonexistent/vgpu.sock', undefined, [SMI], { VGPU_CONNECT_TIMEOUT_MS: '500' });
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /couldn't communicate with the NVIDIA driver|Driver Not Loaded/i);
  assert.match(r.stderr, /vgpu\[\d+\] \S+Z warn: cannot use the vgpu host/);
});

// ---- the WELCOME extension block (protocol minor 1) ----

const sampleWelcome = (minor: number): Welcome => ({
  major: PROTO_MAJOR, minor, hostFlags: 0, sessionId: 7, driverVersion: 12080, vmName: 'vm',
  devices: [{ name: 'NVIDIA H100 80GB HBM3', uuid: Buffer.alloc(16, 0xab), totalMem: 80 * 2 ** 30, pciDomain: 0, pciBus: 0x1b,
    pciDevice: 0, attributes: [-2147483648, 1024, ...Array<number>(73).fill(-2147483648), 9, 0] }],
});

test('WELCOME extensions: TypeScript round trip, unknown tags kept, minor 0 carries none', () => {
  const wl = { ...sampleWelcome(1), ext: { driverVersionString: '570.133.20', unknown: [{ tag: 0x7f01, data: Buffer.from('zz') }] } };
  const back = decodeWelcome(encodeWelcome(wl));
  assert.equal(back.ext?.driverVersionString, '570.133.20');
  assert.deepEqual(back.ext?.unknown, [{ tag: 0x7f01, data: Buffer.from('zz') }]);
  const plain = encodeWelcome(sampleWelcome(0));
  assert.equal(decodeWelcome(plain).ext, undefined);
  assert.equal(encodeWelcome(sampleWelcome(1)).length, plain.length + 4, 'an empty block is its u32 count');
  assert.throws(() => encodeWelcome({ ...sampleWelcome(0), ext: {} }), RangeError);
  assert.throws(() => encodeWelcome({ ...sampleWelcome(1), ext: { driverVersionString: '5'.repeat(80) } }), RangeError);
  assert.throws(() => decodeWelcome(Buffer.concat([plain, Buffer.alloc(4)])), ProtocolError, 'minor 0 ends after the devices');
  assert.equal(welcomeMinor(1, 0), 0);
  assert.equal(welcomeExt({ cudaDriverVersion: 13000 }).driverVersionString, '580.65.06');
  assert.equal(welcomeExt({ cudaDriverVersion: 12080, nvidiaDriverString: '570.133.20' }).driverVersionString, '570.133.20');
  assert.equal(welcomeExt({ cudaDriverVersion: 12040, nvidiaDriverString: 'x; rm -rf' }).driverVersionString, '550.54.14');
});

/** A one-shot host that answers HELLO with a WELCOME built by the TypeScript codec. */
function welcomeHost(path: string, make: (guestMinor: number) => Welcome): Server {
  const srv = createServer((sock) => {
    const parser = new FrameParser();
    sock.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk, (f) => {
          if (f.type !== FrameType.HELLO) return;
          const h = decodeHello(f.payload);
          sock.write(encodeFrame(FrameType.WELCOME, 0, f.id, 0, encodeWelcome(make(h.minor))));
        });
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
  });
  srv.listen(path);
  return srv;
}

test('a WELCOME from the TypeScript codec with a driver string reaches nvidia-smi through the C decoder', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-nvml-'));
  const sock = join(dir, 'host.sock');
  let seenMinor = -1;
  const srv = welcomeHost(sock, (guestMinor) => {
    seenMinor = guestMinor;
    const minor = welcomeMinor(1, guestMinor);
    const wl = sampleWelcome(minor);
    // A tag from a later minor goes first: the guest must skip it.
    return minor >= 1 ? { ...wl, ext: { ...welcomeExt({ cudaDriverVersion: 12080, nvidiaDriverString: '570.133.20' }), unknown: [{ tag: 0x7f01, data: Buffer.from('zz') }] } } : wl;
  });
  try {
    const r = await runGuest(`unix:${sock}`, undefined, [SMI, '--query-gpu=driver_version,name,compute_cap,memory.total', '--format=csv,noheader,nounits']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(seenMinor, PROTO_MINOR, 'the guest says its protocol minor, the current one, in its HELLO');
    assert.equal(r.stdout.trim(), `570.133.20, NVIDIA H100 80GB HBM3, 9.0, ${80 * 1024}`);
    const t = await runGuest(`unix:${sock}`, undefined, [SMI]);
    assert.match(t.stdout, /Driver Version: 570\.133\.20\s+CUDA Version: 12\.8/);
    // Off softgpu, temperature and power are not invented.
    assert.match(t.stdout, /N\/A\s+N\/A\s+N\/A\s+N\/A \/\s+N\/A/);
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- guest/install.sh into a temporary root ----

function debianLikeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-root-'));
  mkdirSync(join(root, 'etc/ld.so.conf.d'), { recursive: true });
  writeFileSync(join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  // NVIDIA's libraries where Debian puts them, listed by a conf file that sorts after ours.
  const nv = join(root, 'usr/lib/x86_64-linux-gnu/nvidia/current');
  mkdirSync(nv, { recursive: true });
  writeFileSync(join(root, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), '/usr/lib/x86_64-linux-gnu/nvidia/current\n');
  for (const lib of ['libcuda.so.1', 'libnvidia-ml.so.1']) copyFileSync(join(ROOT, 'build/guest', lib), join(nv, lib));
  return root;
}

const INSTALL = join(ROOT, 'guest/install.sh');

test('guest/install.sh --dry-run changes nothing and hides the token', () => {
  const root = debianLikeRoot();
  try {
    const out = execFileSync(INSTALL, ['--server', 'tcp:gpu-host:7070', '--token', 'vgpu_secret', '--root', root, '--dry-run'], { encoding: 'utf8' });
    assert.match(out, /would run: install -m 0755 .*libnvidia-ml\.so\.1/);
    assert.match(out, /token = <hidden>/);
    assert.doesNotMatch(out, /vgpu_secret/);
    assert.equal(existsSync(join(root, 'etc/vgpu')), false);
    assert.equal(existsSync(join(root, 'usr/local')), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('guest/install.sh rejects bad arguments before touching anything', () => {
  for (const args of [[], ['--server', 'gpu-host:7070'], ['--server', 'tcp:h:1', '--token', 'a b'], ['--server', 'tcp:h:1', '--prefix', 'rel']]) {
    assert.throws(() => execFileSync(INSTALL, [...args, '--root', '/nonexistent-root'], { stdio: 'pipe' }), (e: { status?: number }) => e.status === 2, args.join(' '));
  }
});

test('guest/install.sh puts both libraries ahead of NVIDIA\'s and writes a guest.conf the libraries read', { skip }, async () => {
  const root = debianLikeRoot();
  try {
    const added = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'nvml-install', '--state-dir', m.stateDir, '--memory', '512M', '--print-token'], { encoding: 'utf8' });
    const token = added.trim().split('\n').at(-1)!;
    execFileSync(INSTALL, ['--server', m.tcp!, '--token', token, '--root', root], { stdio: 'pipe' });
    const lib = join(root, 'usr/local/lib/vgpu');
    assert.deepEqual(readdirSync(lib).sort(), ['libcuda.so', 'libcuda.so.1', 'libnvidia-ml.so', 'libnvidia-ml.so.1']);
    assert.equal(statSync(join(lib, 'libnvidia-ml.so.1')).mode & 0o777, 0o755);
    const conf = join(root, 'etc/vgpu/guest.conf');
    const text = readFileSync(conf, 'utf8');
    assert.ok(text.includes(`\nserver = ${m.tcp!}\n`), text);
    assert.ok(text.includes(`\ntoken = ${token}\n`), 'the token is written for the libraries');
    assert.equal(readFileSync(join(root, 'etc/ld.so.conf.d/00-vgpu.conf'), 'utf8').split('\n')[1], '/usr/local/lib/vgpu');
    // The loader cache lists ours first for both sonames.
    const cache = execFileSync('/sbin/ldconfig', ['-p', '-C', join(root, 'etc/ld.so.cache')], { encoding: 'utf8' });
    for (const so of ['libcuda.so.1', 'libnvidia-ml.so.1']) {
      const first = cache.split('\n').find((l) => l.trim().startsWith(`${so} `));
      assert.match(first ?? '', new RegExp(`=> /usr/local/lib/vgpu/${so.replace(/\./g, '\\.')}$`), cache);
    }
    // The installed NVML reads the written configuration: no VGPU_SERVER in the environment.
    const env: NodeJS.ProcessEnv = { ...process.env, VGPU_CONFIG: conf, LD_LIBRARY_PATH: lib };
    delete env.VGPU_SERVER;
    delete env.VGPU_TOKEN;
    const out = execFileSync(SMI, ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { env, encoding: 'utf8' });
    assert.equal(out.trim(), `${(await cudaDevices(m.server))[0]!.name}, 512`, 'the VM of the token, with its quota');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
