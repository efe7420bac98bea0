// `--listen vsock:PORT`: an AF_VSOCK listener (docs/virtual-machines.md). Node cannot hold an
// AF_VSOCK socket (libuv wraps only Unix, TCP and UDP descriptors), so the mediator never opens
// one: it runs src/native/vsock-listen.c (build/native/vgpu-vsock-listen), which listens on the
// vsock port and hands each guest connection to a private Unix socket in the state directory,
// prefixed with a header naming the guest's CID, and relays its bytes. The connection then goes
// through the handshake and to an executor like any Unix socket, as the channel `vsock` of that
// CID, which `vm set --vsock-cid` binds to a VM. That relay is a second hop the hybrid listener
// (vsock-uds:) does not have.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Channel } from './listen.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The helper; VGPU_VSOCK_HELPER names another (tests replace it, never opening AF_VSOCK). */
export function vsockHelper(): string {
  return process.env.VGPU_VSOCK_HELPER ?? join(REPO_ROOT, 'build', 'native', 'vgpu-vsock-listen');
}

/** The header the helper writes first on each connection (vsock-listen.c). */
export const VSOCK_HEADER_BYTES = 16;
export const VSOCK_HEADER_MAGIC = 0x4b535647;
export const VSOCK_HEADER_VERSION = 1;
/** How long the helper has to send the header once it connected. */
const HEADER_TIMEOUT_MS = 5000;
/** How long the helper has to say it listens. */
const START_TIMEOUT_MS = 10_000;

/** The guest CID and port in a header, or why it is not one. */
export function parseVsockHeader(b: Buffer): { cid: number; port: number } | { bad: string } {
  if (b.length < VSOCK_HEADER_BYTES) return { bad: 'short header' };
  if (b.readUInt32LE(0) !== VSOCK_HEADER_MAGIC) return { bad: 'bad magic' };
  if (b.readUInt32LE(4) !== VSOCK_HEADER_VERSION) return { bad: `header version ${b.readUInt32LE(4)}` };
  return { cid: b.readUInt32LE(8), port: b.readUInt32LE(12) };
}

/** The private socket the helper of `port` hands connections to. */
export function handoffSocket(stateDir: string, port: number): string {
  return join(stateDir, `vsock-${port}.sock`);
}

/** The private server; closing it stops the helper at once (not when the last connection the
 * server saw has ended, which is when a net.Server reports 'close'). */
class VsockServer extends net.Server {
  stopHelper: () => void = () => {};
  override close(cb?: (err?: Error) => void): this {
    this.stopHelper();
    return super.close(cb);
  }
}

/**
 * Starts the helper for `port` and a private Unix server it hands connections to; resolves with
 * that server once the helper listens (closing the server stops the helper), rejects with the
 * helper's own words when it cannot listen.
 */
export async function listenVsock(
  port: number, stateDir: string,
  onConn: (s: net.Socket, channel: Channel) => void, onError: (e: Error) => void,
): Promise<net.Server> {
  const path = handoffSocket(stateDir, port);
  // The state directory is locked by this mediator (lockStateDir): a socket file there is stale.
  if (existsSync(path)) unlinkSync(path);
  const server = new VsockServer({ noDelay: true }, (s) => {
    // The helper writes the header at once; a connection that does not is not the helper's.
    const timer = setTimeout(() => {
      onError(new Error('a connection on the vsock handoff socket sent no header in time'));
      s.destroy();
    }, HEADER_TIMEOUT_MS);
    timer.unref();
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (head.length < VSOCK_HEADER_BYTES) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.off('error', onEarlyError);
      s.pause();
      const h = parseVsockHeader(head);
      if ('bad' in h) {
        onError(new Error(`a connection on the vsock handoff socket sent a bad header: ${h.bad}`));
        s.destroy();
        return;
      }
      // What came after the header is the guest's first bytes.
      if (head.length > VSOCK_HEADER_BYTES) s.unshift(head.subarray(VSOCK_HEADER_BYTES));
      onConn(s, { kind: 'vsock', cid: h.cid });
      s.resume();
    };
    const onEarlyError = (): void => {
      clearTimeout(timer);
      s.destroy();
    };
    s.on('data', onData);
    s.on('error', onEarlyError);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => {
      server.off('error', rej);
      server.on('error', onError);
      res();
    });
  });
  // Only this mediator's user reaches it (the state directory is 0700 too): whoever can connect
  // names the CID it likes.
  chmodSync(path, 0o600);
  let child: ChildProcess;
  try {
    child = await startHelper(port, path, onError);
  } catch (e) {
    server.close();
    throw e;
  }
  server.stopHelper = () => {
    server.stopHelper = () => {};
    child.stdin?.end();
    child.kill('SIGTERM');
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
  return server;
}

function startHelper(port: number, path: string, onError: (e: Error) => void): Promise<ChildProcess> {
  const helper = vsockHelper();
  // stdin is a pipe the helper watches: it ends when the mediator does, however the mediator ends.
  const child = spawn(helper, [String(port), path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stdin!.on('error', () => {
    /* the helper is gone; its exit says why */
  });
  return new Promise((res, rej) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`--listen vsock:${port}: ${helper} did not start listening within ${START_TIMEOUT_MS} ms ${err.trim()}`));
    }, START_TIMEOUT_MS);
    child.stderr!.on('data', (d: string) => {
      err = (err + d).slice(-4000);
      // After the start, what the helper reports (a relay that failed) is logged, not fatal.
      if (started) onError(new Error(d.trim()));
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (!started && d.includes('listening')) {
        started = true;
        clearTimeout(timer);
        res(child);
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (started) onError(e);
      else rej(new Error(`--listen vsock:${port}: cannot run ${helper}: ${e.message} (build it with 'make native')`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!started) rej(new Error(`--listen vsock:${port}: ${err.trim() || `${helper} exited with ${code ?? signal}`}`));
      else if (signal !== 'SIGTERM') onError(new Error(`vsock:${port} helper exited with ${code ?? signal}: ${err.trim()}; guests on this port are no longer accepted`));
    });
  });
}
