// Real QEMU guests for the tests (docs/virtual-machines.md, "How the test suite boots a VM"):
// Debian's kernel under QEMU's emulation (TCG, no KVM needed), a busybox initramfs whose /init
// loads virtio, vsock and 9p and runs a job script the test shares in, and vhost-device-vsock as
// the user-space vsock backend (hybrid: a guest's connection to port P arrives on the Unix socket
// UDS_P). The assets are fetched once by test/vm/build-assets.sh into the test cache.
//
// Safety: the host's own vsock is never used. QEMU gets vhost-user-vsock-pci (never
// vhost-vsock-pci, which is the host kernel's vsock), and every host process of a VM test runs
// under test/vm/vsock-guard.c, a seccomp filter that makes AF_VSOCK sockets fail with EPERM.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { cacheDir } from './cache.js';
import { BUILD, ROOT } from './paths.js';

const BUILD_SCRIPT = join(ROOT, 'test/vm/build-assets.sh');
const MARKER = '.vgpu-vm-assets-complete';
/** Exit statuses of build-assets.sh that mean "this machine cannot": no mirror, not root. */
const EXIT_UNREACHABLE = 3;
const EXIT_NOT_ROOT = 4;

export interface VmAssets {
  dir: string;
  vmlinux: string;
  initramfs: string;
  vhostDeviceVsock: string;
}

export type VmAssetsResult = VmAssets | { skip: string };

function tail(s: string, lines = 6): string {
  return s.trim().split('\n').slice(-lines).join(' | ');
}

function assetsAt(dir: string): VmAssets {
  return { dir, vmlinux: join(dir, 'vmlinux'), initramfs: join(dir, 'initramfs.cpio.gz'), vhostDeviceVsock: join(dir, 'vhost-device-vsock') };
}

/** The kernel, initramfs and vsock backend (and QEMU, installed with apt when missing), fetched
 * on first use; skips only where this machine cannot run the build (not root, no mirror). */
export function getVmAssets(): VmAssetsResult {
  // The suffix names what build-assets.sh produces: raise it when the script changes that, so
  // caches built by the old one are not taken for the new.
  const dir = join(cacheDir(), 'vm-assets-bookworm-1');
  const qemu = (): boolean => {
    try {
      execFileSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (existsSync(join(dir, MARKER)) && qemu()) return assetsAt(dir);
  if (process.getuid?.() !== 0) return { skip: 'fetching the VM assets and installing QEMU needs root (apt-get)' };
  try {
    execFileSync('flock', [`${dir}.lock`, BUILD_SCRIPT, dir], {
      stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' },
    });
  } catch (e) {
    const err = e as { status?: number; stderr?: Buffer; message?: string };
    const why = tail(err.stderr?.toString() ?? err.message ?? String(e));
    if (err.status === EXIT_UNREACHABLE || err.status === EXIT_NOT_ROOT) return { skip: `cannot fetch the VM assets: ${why}` };
    throw new Error(`test/vm/build-assets.sh ${dir} failed (status ${err.status}): ${why}`);
  }
  if (!existsSync(join(dir, MARKER))) throw new Error(`build-assets.sh returned but ${dir} is not complete`);
  return assetsAt(dir);
}

/** Builds test/vm/NAME.c into build/test-programs/OUT when missing or older than its source. */
function buildTestC(name: string, out: string, flags: string[] = []): string {
  const src = join(ROOT, 'test/vm', `${name}.c`);
  const bin = join(BUILD, 'test-programs', out);
  mkdirSync(join(BUILD, 'test-programs'), { recursive: true });
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', ...flags, '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return bin;
}

/** test/vm/vsock-guard.c: runs a program unable to open AF_VSOCK sockets. */
export function vsockGuard(): string {
  return buildTestC('vsock-guard', 'vsock-guard');
}

/** AF_IPX: gone from Linux since 4.18, so socket() fails with EAFNOSUPPORT whatever a filter does. */
export const AF_IPX = 4;

/** The same guard refusing AF_IPX instead, to check the filter itself without AF_VSOCK. */
export function ipxGuard(): string {
  return buildTestC('vsock-guard', 'vsock-guard-ipx', [`-DVG_GUARD_FAMILY=${AF_IPX}`]);
}

/** test/vm/socket-probe.c: prints 0 or the errno of socket(FAMILY, SOCK_STREAM, 0). */
export function socketProbe(): string {
  return buildTestC('socket-probe', 'socket-probe');
}

/** A host process the test started; `output` is what it printed so far (stdout and stderr). */
export interface HostProcess {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startGuarded(cmd: string, args: string[]): HostProcess {
  const proc = spawn(vsockGuard(), [cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  proc.on('error', (e) => (out += `\n[spawn error: ${e.message}]`));
  return {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * vhost-device-vsock serving one VM: QEMU connects to `socket`; the guest's connections to host
 * port P arrive on `${udsPath}_${P}` (where the mediator's vsock-uds listener waits).
 */
export function startVsockBackend(assets: VmAssets, opts: { socket: string; udsPath: string; guestCid: number }): HostProcess {
  return startGuarded(assets.vhostDeviceVsock, ['--vm', `guest-cid=${opts.guestCid},socket=${opts.socket},uds-path=${opts.udsPath}`]);
}

/** Waits until `path` exists (a socket a daemon creates once it listens). */
export async function waitForPath(path: string, timeoutMs: number, proc?: HostProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (proc && (proc.proc.exitCode !== null || proc.proc.signalCode !== null)) throw new Error(`exited before ${path} appeared:\n${proc.output()}`);
    if (Date.now() > until) throw new Error(`${path} did not appear within ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface BootOptions {
  /** Folder holding run.sh, which the guest's /init runs; shared read-write (tag "job"). */
  jobDir: string;
  /** More 9p shares: tag -> host folder, read-only. */
  shares: Record<string, string>;
  /** vhost-device-vsock's socket (startVsockBackend). */
  vhostSocket: string;
  memoryMiB?: number;
  /** A host file attached as an ivshmem-plain device (the VM's shared memory, docs/virtual-machines.md):
   * QEMU maps it as the device's BAR2, `size` bytes. */
  shm?: { path: string; size: string };
  timeoutMs: number;
}

export interface BootResult {
  code: number | null;
  /** The serial console: kernel messages and whatever the job printed. */
  console: string;
}

/** Boots the guest and waits until it powers off (its job done) or the timeout kills it. */
export function bootVm(assets: VmAssets, o: BootOptions): Promise<BootResult> {
  const mem = `${o.memoryMiB ?? 1024}M`;
  const args = [
    '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', mem,
    '-nographic', '-no-reboot', '-nic', 'none', '-nodefaults', '-serial', 'stdio',
    '-kernel', assets.vmlinux, '-initrd', assets.initramfs, '-append', 'console=ttyS0 panic=-1 quiet',
    // vhost-user needs the guest's memory shared with the backend.
    '-object', `memory-backend-memfd,id=mem,size=${mem},share=on`, '-numa', 'node,memdev=mem',
    '-chardev', `socket,id=vsock0,path=${o.vhostSocket}`, '-device', 'vhost-user-vsock-pci,chardev=vsock0',
    '-virtfs', `local,path=${o.jobDir},mount_tag=job,security_model=none`,
    ...Object.entries(o.shares).flatMap(([tag, dir]) => ['-virtfs', `local,path=${dir},mount_tag=${tag},security_model=none,readonly=on`]),
    ...(o.shm ? ['-object', `memory-backend-file,id=shm0,mem-path=${o.shm.path},size=${o.shm.size},share=on`, '-device', 'ivshmem-plain,memdev=shm0'] : []),
  ];
  const q = startGuarded('qemu-system-x86_64', args);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      q.proc.kill('SIGKILL');
    }, o.timeoutMs);
    q.proc.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, console: q.output() });
    });
  });
}
