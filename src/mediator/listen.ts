// Listener addresses (docs/operations.md, docs/virtual-machines.md): `unix:PATH`,
// `tcp:HOST:PORT`, `tls:HOST:PORT` (TCP with TLS: tls.ts), `vsock-uds:PATH[:PORT]` (hybrid vsock: the guest's port P arrives on the Unix
// socket PATH_P, the convention of Firecracker, Cloud Hypervisor and vhost-device-vsock) and
// `vsock:PORT` (AF_VSOCK, through a native helper: vsock-listen.ts).

import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { posix } from 'node:path';
import type tls from 'node:tls';

import { listenVsock } from './vsock-listen.js';
import { tlsChannel, type TlsCredentials } from './tls.js';
import { applySocketAccess, type SocketAccess } from './socket-access.js';

/** Silence on a guest's TCP connection after which the host probes whether the guest is there. */
const KEEPALIVE_IDLE_MS = 30_000;

/** Where guests on this host find the mediator when nothing says otherwise (vgpu-run's default). */
export const DEFAULT_LISTEN = 'unix:/tmp/vgpu.sock';

/** The vsock port guests connect to when an address names none (vsock-uds:PATH, and the guest
 * library's documentation); any port works as long as both ends agree. */
export const DEFAULT_VSOCK_PORT = 9999;
/** The longest Unix socket path Linux takes (sun_path holds 108 bytes with the NUL). */
const UNIX_PATH_MAX = 107;

export type ListenAddr =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'tls'; host: string; port: number }
  /** `path` is the VM's hybrid vsock path (what `vm set --vsock-path` binds); the mediator
   * listens on `${path}_${port}`. */
  | { kind: 'vsock-uds'; path: string; port: number }
  | { kind: 'vsock'; port: number };

/** Which channel a guest connection came over: what the mediator knows of it before the HELLO. */
export type Channel =
  | { kind: 'unix' }
  | { kind: 'tcp'; peer: string }
  /** The guest's cleartext goes through the mediator to its executor (tls.ts, relayCleartext).
   * `clientCert`: the SHA-256 (hex) of the client certificate it presented, verified against
   * --tls-client-ca; `certRefused`: why its certificate (or its lack of one) ends it (tlsChannel). */
  | { kind: 'tls'; peer: string; clientCert?: string; certRefused?: string }
  | { kind: 'vsock-uds'; path: string }
  | { kind: 'vsock'; cid: number };

export function channelLabel(c: Channel): string {
  switch (c.kind) {
    case 'unix': return 'unix';
    case 'tcp': return c.peer;
    case 'tls': return `tls ${c.peer}`;
    case 'vsock-uds': return `vsock-uds:${c.path}`;
    case 'vsock': return `vsock CID ${c.cid}`;
  }
}

const FORMS = 'unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock-uds:PATH[:PORT] or vsock:PORT';

/** A vsock port: 1 to 2^32-2 (0xFFFFFFFF is VMADDR_PORT_ANY). */
function vsockPort(s: string, text: string): number {
  const port = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 0xfffffffe)) throw new Error(`--listen ${s}: vsock port must be a whole number from 1 to 4294967294, not "${text}"`);
  return port;
}

export function parseListen(s: string): ListenAddr {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') throw new Error(`--listen ${s}: empty socket path`);
    return { kind: 'unix', path };
  }
  if (s.startsWith('vsock-uds:')) {
    // A trailing ":DIGITS" is the port; socket paths with such a tail need it spelled out.
    const m = /^(.*?)(?::(\d+))?$/.exec(s.slice(10))!;
    const path = m[1] ?? '';
    const port = m[2] === undefined ? DEFAULT_VSOCK_PORT : vsockPort(s, m[2]);
    if (!path.startsWith('/')) throw new Error(`--listen ${s}: the hybrid vsock path must be absolute (the VM's uds_path)`);
    const norm = posix.normalize(path);
    if (norm.endsWith('/')) throw new Error(`--listen ${s}: the hybrid vsock path names a folder, not a socket`);
    if (`${norm}_${port}`.length > UNIX_PATH_MAX) throw new Error(`--listen ${s}: ${norm}_${port} is longer than a Unix socket path may be (${UNIX_PATH_MAX})`);
    return { kind: 'vsock-uds', path: norm, port };
  }
  if (s.startsWith('vsock:')) {
    const rest = s.slice(6);
    if (rest.includes(':')) throw new Error(`--listen ${s}: an AF_VSOCK listener takes only a port (vsock:PORT); it accepts every guest CID, which 'vgpu-admin vm set --vsock-cid' binds`);
    return { kind: 'vsock', port: vsockPort(s, rest) };
  }
  const m = /^(tcp|tls):(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (m) {
    const port = Number(m[3]);
    if (port > 65535) throw new Error(`--listen ${s}: port out of range`);
    return { kind: m[1] === 'tls' ? 'tls' : 'tcp', host: m[2]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new Error(`--listen ${s}: expected ${FORMS}`);
}

export function formatListen(a: ListenAddr): string {
  switch (a.kind) {
    case 'unix': return `unix:${a.path}`;
    case 'tcp': return `tcp:${a.host}:${a.port}`;
    case 'tls': return `tls:${a.host}:${a.port}`;
    case 'vsock-uds': return `vsock-uds:${a.path}:${a.port}`;
    case 'vsock': return `vsock:${a.port}`;
  }
}

/** The Unix socket file a listener creates, if any (removed when the mediator stops). */
export function socketFile(a: ListenAddr): string | undefined {
  if (a.kind === 'unix') return a.path;
  if (a.kind === 'vsock-uds') return `${a.path}_${a.port}`;
  return undefined;
}

/** A host name or address that only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/**
 * Plain TCP beyond loopback sends VM tokens and every byte of the guests' data in cleartext: it
 * needs the operator's explicit `insecureTcp`. Returns the warnings to log at start; throws, naming
 * the flag and tls:, when the operator did not ask for it. tls: listeners need `haveCert`.
 */
export function checkListenSecurity(addrs: ListenAddr[], insecureTcp: boolean, haveCert: boolean): string[] {
  const warnings: string[] = [];
  for (const a of addrs) {
    if (a.kind === 'tls' && !haveCert) throw new Error(`--listen ${formatListen(a)} needs --tls-cert FILE and --tls-key FILE (PEM)`);
    if (a.kind !== 'tcp' || isLoopback(a.host)) continue;
    if (!insecureTcp) {
      throw new Error(`--listen ${formatListen(a)}: plain TCP beyond loopback sends VM tokens and guest data in cleartext; `
        + `listen on tls:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port} instead (with --tls-cert and --tls-key), or accept the risk with --insecure-tcp`);
    }
    warnings.push(`--listen ${formatListen(a)}: plain TCP beyond loopback (--insecure-tcp): VM tokens and guest data cross the network in cleartext; prefer tls:`);
  }
  return warnings;
}

/** Is something already answering on this Unix socket? A stale file from a crash is not. */
function unixInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

/** `onError` hears what the listening socket reports once it listens (accept failing for want of
 * descriptors, for one): unheard, such an error would end the mediator. This process never opens
 * AF_VSOCK: a vsock: listener is the helper's (vsock-listen.ts), handing connections to a private
 * socket in `stateDir`. */
export async function listen(a: ListenAddr, onConn: (s: net.Socket, channel: Channel) => void, onError: (e: Error) => void,
  stateDir: string, creds?: TlsCredentials, access: SocketAccess = { mode: 0o660 }): Promise<net.Server> {
  if (a.kind === 'vsock') return listenVsock(a.port, stateDir, onConn, onError);
  if (a.kind === 'tls' && !creds) throw new Error(`--listen ${formatListen(a)} needs --tls-cert and --tls-key`);
  const file = socketFile(a);
  if (file !== undefined && existsSync(file)) {
    if (await unixInUse(file)) throw new Error(inUseMessage(a));
    unlinkSync(file);
  }
  // The channel is known before the guest says anything: a hybrid vsock socket is one VM's (its
  // hypervisor's vsock device delivers there), which is what lets its binding stand in for a token.
  const channel = (s: net.Socket): Channel =>
    a.kind === 'unix' ? { kind: 'unix' }
      : a.kind === 'vsock-uds' ? { kind: 'vsock-uds', path: a.path }
        : { kind: 'tcp', peer: `${s.remoteAddress}:${s.remotePort}` };
  // Keepalive probes find guests whose machine or network went away without a word: their
  // sessions (and the executors and memory behind them) end instead of waiting for a guest that
  // is gone. The option stays with the socket when an executor takes it over.
  const netOpts = { noDelay: true, keepAlive: a.kind === 'tcp' || a.kind === 'tls', keepAliveInitialDelay: KEEPALIVE_IDLE_MS };
  const server = a.kind === 'tls'
    ? creds!.createServer({ ...netOpts, handshakeTimeout: TLS_HANDSHAKE_MS, minVersion: 'TLSv1.2' },
      (s) => onConn(s, tlsChannel(s, creds!.client)))
    : net.createServer(netOpts, (s) => onConn(s, channel(s)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(inUseMessage(a)) : e));
    const listening = (): void => {
      server.off('error', reject);
      server.on('error', onError);
      resolve();
    };
    if (file !== undefined) server.listen(file, listening);
    else if (a.kind === 'tcp' || a.kind === 'tls') server.listen(a.port, a.host, listening);
  });
  // The hypervisor's vsock backend (or Firecracker) connects to the hybrid socket, and local guests
  // to the Unix one: they run as the mediator's user or in the group it gives the socket.
  if (file !== undefined) {
    try {
      applySocketAccess(file, access);
    } catch (e) {
      server.close();
      throw e;
    }
  }
  return server;
}

/** Why an address cannot be listened on because something holds it, and the flag (or variable) that
 * gets past it. */
export function inUseMessage(a: ListenAddr): string {
  const at = formatListen(a);
  switch (a.kind) {
    case 'unix':
      return `another mediator is already listening on ${at}: stop it, or start this one with --listen unix:/other/path.sock ` +
        `('make run' takes VGPU_SOCKET=/other/path.sock); its guests then need VGPU_SERVER=unix:/other/path.sock`;
    case 'vsock-uds':
      return `another mediator is already listening on ${at}: stop it, or give this VM's vsock device another socket ` +
        '(--listen vsock-uds:/other/path.sock, and the same path in the hypervisor\'s vsock configuration)';
    case 'tcp':
    case 'tls':
      return `${at} is already in use by another process (another mediator?): stop it, or start this one with ` +
        `--listen ${a.kind}:${a.host}:OTHER_PORT; its guests then need VGPU_SERVER=${a.kind}:${a.host}:OTHER_PORT`;
    default:
      return `${at} is already in use: stop whatever listens there, or start this one with another --listen`;
  }
}

/** How long a guest has for its TLS handshake. */
const TLS_HANDSHAKE_MS = 10_000;

export function boundAddress(server: net.Server, a: ListenAddr): ListenAddr {
  if (a.kind !== 'tcp' && a.kind !== 'tls') return a;
  const addr = server.address();
  return typeof addr === 'object' && addr ? { kind: a.kind, host: a.host, port: addr.port } : a;
}
