// A real virtual machine on vgpu (docs/virtual-machines.md): a QEMU guest (TCG; Debian's kernel;
// the Debian sid guest tree of test/helpers/guest-tree.ts as its root file system over 9p, with
// vgpu's guest libraries and the test programs shared in read-only) reaches the host's mediator
// over vsock, hybrid style: the guest connects to vsock:2:PORT, vhost-device-vsock delivers the
// connection on the Unix socket UDS_PORT, and the mediator's vsock-uds listener serves it. The VM
// is bound to that channel (vm set --vsock-path), so the guest sends no token; guest/install.sh
// configures a guest for it; a guest that sends another VM's token on it is refused. The VM has an
// ivshmem region backed by its file in the store (vm set --shm-path): page-locked copies go
// through it, not through vsock.
//
// Every host process here (mediator and executors, vhost-device-vsock, QEMU) runs under
// test/vm/vsock-guard.c: none of them can open an AF_VSOCK socket on this machine.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getGuestTree } from '../helpers/guest-tree.js';
import { scrape } from '../helpers/metrics.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildCudaProgram } from '../helpers/nvcc.js';
import { GUEST_LIB_DIR, ROOT } from '../helpers/paths.js';
import { buildProgram } from '../helpers/programs.js';
import { bootVm, getVmAssets, startVsockBackend, vsockGuard, waitForPath, type BootResult, type HostProcess } from '../helpers/vm.js';

/** The host port the guest connects to; the default of vsock-uds:PATH, spelled out in the guest. */
const PORT = 9999;
const GUEST_CID = 3;
/** TCG emulates every instruction: the boot takes seconds, the programs some more. */
const BOOT_TIMEOUT_MS = 170_000;
/** The VM's ivshmem region, and the largest copy through it (the emulated CPU fills and checks
 * every byte, so it stays small, yet above one 16 MiB frame). */
const SHM_SIZE = '128M';
const SHM_COPY_MIB = 20;

const tree = getGuestTree();
const assets = 'skip' in tree ? tree : getVmAssets();
const skip = 'skip' in tree ? tree.skip : 'skip' in assets ? assets.skip : false;

let dir: string;
let m: RunningMediator;
let backend: HostProcess | undefined;
let boot: BootResult;
let gpuName = '';

/** What one program run in the guest left in the job folder. */
function result(name: string): { rc: number; out: string; err: string } {
  const read = (ext: string): string => {
    try {
      return readFileSync(join(dir, 'job', 'out', `${name}.${ext}`), 'utf8');
    } catch {
      return '';
    }
  };
  return { rc: Number(read('rc').trim() || 'NaN'), out: read('out'), err: read('err') };
}

function report(name: string): string {
  const r = result(name);
  return `${name}: status ${r.rc}\n--- stdout ---\n${r.out.slice(-4000)}\n--- stderr ---\n${r.err.slice(-4000)}\n` +
    `--- console (last 40 lines) ---\n${boot.console.split('\n').slice(-40).join('\n')}`;
}

/** The job the guest's /init runs: the tree as root (read-only), a private /tmp, the shares. */
function jobScript(vm2Token: string): string {
  const env = `PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 LD_LIBRARY_PATH=/tmp/vgpu-lib`;
  return `set -u
out=/job/out
mkdir -p $out
p9="-t 9p -o trans=virtio,version=9p2000.L"
mount $p9,ro root /root
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
# The ivshmem device's memory decoding, as an operator's boot script turns it on (docs/virtual-machines.md).
for d in /sys/bus/pci/devices/*; do
  [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] && echo 1 > $d/enable
done
mount -t tmpfs -o mode=1777 tmpfs /root/tmp
mkdir -p /root/tmp/vgpu-lib /root/tmp/vgpu-bin /root/tmp/job
mount $p9,ro vgpulib /root/tmp/vgpu-lib
mount $p9,ro vgpubin /root/tmp/vgpu-bin
mount -o bind /job /root/tmp/job
run() {
  name=$1; shift
  echo "vm-job: $name"
  chroot /root /usr/bin/env -i ${env} "$@" > $out/$name.out 2> $out/$name.err
  echo $? > $out/$name.rc
}
run driver_api env VGPU_SERVER=vsock:2:${PORT} /tmp/vgpu-bin/driver_api
run shm_copy env VGPU_SERVER=vsock:2:${PORT} /tmp/vgpu-bin/shm_copy ${SHM_COPY_MIB}
run vector_add env VGPU_SERVER=vsock:2:${PORT} /tmp/vgpu-bin/vector_add
run nvidia_smi env VGPU_SERVER=vsock:${PORT} nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits
# The installer, into a scratch root (the tree is read-only): its guest.conf alone, with no
# VGPU_SERVER, then leads nvidia-smi to the host.
run install env bash /tmp/vgpu-bin/install.sh --server vsock:${PORT} --root /tmp/inst --from /tmp/vgpu-lib --no-ldconfig
run installed_smi env VGPU_CONFIG=/tmp/inst/etc/vgpu/guest.conf LD_LIBRARY_PATH=/tmp/inst/usr/local/lib/vgpu nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits
run claim env VGPU_SERVER=vsock:2:${PORT} VGPU_TOKEN=${vm2Token} VGPU_LOG=warn /tmp/vgpu-bin/init_only
echo "vm-job: done"
`;
}

before(async () => {
  if (skip || 'skip' in assets || 'skip' in tree) return;
  dir = mkdtempSync(join(tmpdir(), 'vgpu-vm-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'job'));
  copyFileSync(buildProgram('driver_api'), join(bin, 'driver_api'));
  copyFileSync(buildProgram('init_only'), join(bin, 'init_only'));
  copyFileSync(buildProgram('shm_copy'), join(bin, 'shm_copy'));
  copyFileSync(buildCudaProgram('vector_add', 'static'), join(bin, 'vector_add'));
  copyFileSync(join(ROOT, 'guest/install.sh'), join(bin, 'install.sh'));
  const uds = join(dir, 'vm1.vsock');
  m = await startMediator({ wrap: [vsockGuard()], args: ['--listen', `vsock-uds:${uds}`] });
  const shmPath = join(dir, 'vm1.shm');
  writeFileSync(shmPath, '');
  truncateSync(shmPath, 128 * 1024 * 1024);
  await m.addVm('vm1', { vsockPath: uds, memoryQuota: '1G', shmPath });
  const vm2Token = await m.addVm('vm2');
  const gpus = await m.api('GET', '/v1/gpus');
  gpuName = ((gpus.json as Array<{ name: string }>)[0])?.name ?? '';
  writeFileSync(join(dir, 'job', 'run.sh'), jobScript(vm2Token));
  const vhost = join(dir, 'vhost.sock');
  backend = startVsockBackend(assets, { socket: vhost, udsPath: uds, guestCid: GUEST_CID });
  await waitForPath(vhost, 20_000, backend);
  boot = await bootVm(assets, {
    jobDir: join(dir, 'job'), vhostSocket: vhost, timeoutMs: BOOT_TIMEOUT_MS,
    shares: { root: tree.root, vgpulib: GUEST_LIB_DIR, vgpubin: bin },
    shm: { path: shmPath, size: SHM_SIZE },
  });
});

after(async () => {
  await backend?.stop();
  await m?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a QEMU guest over hybrid vsock', { skip }, () => {
  test('the guest booted, ran its job and powered off', () => {
    assert.match(boot.console, /vm-job: done/, boot.console.slice(-6000));
    assert.match(boot.console, /vgpu-init: job ended with status 0/, boot.console.slice(-6000));
    assert.doesNotMatch(boot.console, /insmod \S+ failed|cannot mount the job share/, boot.console.slice(-6000));
  });

  test('the driver-API program passes inside the guest, as the bound VM, with no token', () => {
    const r = result('driver_api');
    assert.equal(r.rc, 0, report('driver_api'));
    assert.ok(r.out.split('\n').filter((l) => l.startsWith('ok - ')).length > 80, report('driver_api'));
    assert.doesNotMatch(r.out, /^not ok/m, report('driver_api'));
    // vm1's quota is the memory the guest sees: it is vm1 by its channel alone.
    assert.match(r.out, /# compute capability \d+\.\d+, 1024 MiB/, report('driver_api'));
  });

  test("page-locked copies inside the guest go through the VM's ivshmem region, byte for byte", async () => {
    const r = result('shm_copy');
    assert.equal(r.rc, 0, report('shm_copy'));
    assert.doesNotMatch(r.out, /^not ok/m, report('shm_copy'));
    const moved = /# shm-bytes (\d+) (\d+)/.exec(r.out);
    assert.ok(moved, report('shm_copy'));
    // Every session of vm1 ended before the VM powered off; the last usage report may still be on its way.
    const shm = async (direction: string): Promise<number> => (await scrape(m.admin!)).value('vgpu_vm_shm_bytes_total', { vm: 'vm1', direction });
    const deadline = Date.now() + 30_000;
    while (((await shm('in')) < Number(moved[1]) || (await shm('out')) < Number(moved[2])) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok((await shm('in')) >= Number(moved[1]), 'to the device through the region');
    assert.ok((await shm('out')) >= Number(moved[2]), 'from the device through the region');
  });

  test('a cudart program with kernels (nvcc, static runtime) passes inside the guest', () => {
    const r = result('vector_add');
    assert.equal(r.rc, 0, report('vector_add'));
    assert.match(r.out, /# \d+ checks, 0 failed/, report('vector_add'));
  });

  test('nvidia-smi inside the guest shows the vGPU with the VM quota', () => {
    const r = result('nvidia_smi');
    assert.equal(r.rc, 0, report('nvidia_smi'));
    assert.equal(r.out.trim(), `${gpuName}, 1024`, report('nvidia_smi'));
  });

  test('guest/install.sh with --server vsock:PORT writes a guest.conf that reaches the host', () => {
    const inst = result('install');
    assert.equal(inst.rc, 0, report('install'));
    assert.match(inst.err, /no --token: the host must bind this VM to its vsock channel/, report('install'));
    const r = result('installed_smi');
    assert.equal(r.rc, 0, report('installed_smi'));
    assert.equal(r.out.trim(), `${gpuName}, 1024`, report('installed_smi'));
  });

  test("a guest sending another VM's token on the bound channel is refused, with the reason", () => {
    const r = result('claim');
    assert.match(r.out, /^cuInit=(\d+) /m, report('claim'));
    assert.notEqual(r.out.match(/^cuInit=(\d+) /m)?.[1], '0', report('claim'));
    assert.match(r.err, /vsock-uds:\S+vm1\.vsock is bound to VM vm1; a token for another VM is refused on it/, report('claim'));
  });

  test('the mediator served the sessions as vm1 over its vsock-uds listener, and never as vm2', () => {
    const opened = m.logs.filter((l) => l.msg === 'session opened');
    assert.ok(opened.some((l) => l.vm === 'vm1' && String(l.peer).startsWith('vsock-uds:')), JSON.stringify(opened));
    assert.ok(!opened.some((l) => l.vm === 'vm2'), JSON.stringify(opened));
  });

  test('the host processes of the test ran unable to open AF_VSOCK (seccomp filter)', () => {
    for (const pid of [m.proc.pid, backend?.proc.pid]) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^Seccomp:\s+2$/m, `process ${pid}`);
    }
  });
});
