// Listener addresses: `unix:PATH` or `tcp:HOST:PORT` (docs/operations.md).

import { existsSync, unlinkSync, chmodSync } from 'node:fs';
import net from 'node:net';

/** Silence on a guest's TCP connection after which the host probes whether the guest is there. */
const KEEPALIVE_IDLE_MS = 30_000;

export type ListenAddr = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseListen(s: string): ListenAddr {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') throw new Error(`--listen ${s}: empty socket path`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (m) {
    const port = Number(m[2]);
    if (port > 65535) throw new Error(`--listen ${s}: port out of range`);
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new Error(`--listen ${s}: expected unix:PATH or tcp:HOST:PORT`);
}

export function formatListen(a: ListenAddr): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `tcp:${a.host}:${a.port}`;
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
 * descriptors, for one): unheard, such an error would end the mediator. */
export async function listen(a: ListenAddr, onConn: (s: net.Socket, local: boolean) => void, onError: (e: Error) => void): Promise<net.Server> {
  if (a.kind === 'unix' && existsSync(a.path)) {
    if (await unixInUse(a.path)) throw new Error(`${a.path}: another mediator is already listening there`);
    unlinkSync(a.path);
  }
  // Keepalive probes find guests whose machine or network went away without a word: their
  // sessions (and the executors and memory behind them) end instead of waiting for a guest that
  // is gone. The option stays with the socket when an executor takes it over.
  const server = net.createServer({ noDelay: true, keepAlive: a.kind === 'tcp', keepAliveInitialDelay: KEEPALIVE_IDLE_MS },
    (s) => onConn(s, a.kind === 'unix'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      server.on('error', onError);
      resolve();
    };
    if (a.kind === 'unix') server.listen(a.path, listening);
    else server.listen(a.port, a.host, listening);
  });
  if (a.kind === 'unix') chmodSync(a.path, 0o660);
  return server;
}

export function boundAddress(server: net.Server, a: ListenAddr): ListenAddr {
  if (a.kind === 'unix') return a;
  const addr = server.address();
  return typeof addr === 'object' && addr ? { kind: 'tcp', host: a.host, port: addr.port } : a;
}
