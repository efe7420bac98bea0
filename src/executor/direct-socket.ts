// The guest connection as the executor reads it. A socket received from the mediator reads in
// 64 KiB pieces into a fresh buffer each time, which caps bulk copies well below what the socket
// can carry. Re-wrapping a duplicate of its descriptor with `onread` lets every read go into a
// buffer the frame parser chooses: the unfilled rest of a large frame body (no copy at all) or a
// reused scratch buffer (no allocation).

import net from 'node:net';
import koffi from 'koffi';

import type { FrameConsumer, FrameParser } from '../protocol/frame.js';

let dup: ((fd: number) => number) | undefined;

function libcDup(): (fd: number) => number {
  if (!dup) dup = koffi.load('libc.so.6').func('int dup(int)') as (fd: number) => number;
  return dup;
}

/** The descriptor behind a net.Socket, where Node exposes it (Unix sockets and TCP on Linux). */
export function socketFd(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Whether the socket is a Unix socket (Node wraps those in a Pipe handle): only they carry
 * descriptors. */
export function isUnixSocket(s: net.Socket): boolean {
  return (s as unknown as { _handle?: object })._handle?.constructor.name === 'Pipe';
}

export interface ReadHooks {
  /** Bytes read from the socket. */
  onBytes(n: number): void;
  onError(e: unknown): void;
  /** Feeds one received chunk to the parser (a call boundary follows); returns false to stop
   * reading until the socket's resume() is called. */
  onChunk(feed: (c: FrameConsumer) => boolean): boolean;
}

/**
 * Returns a socket that feeds `parser` directly. Falls back to ordinary 'data' events when the
 * descriptor cannot be had. Reading stops when onChunk says so and restarts with resume().
 */
export function directSocket(original: net.Socket, parser: FrameParser, hooks: ReadHooks): net.Socket {
  const fd = socketFd(original);
  const newFd = fd === undefined ? -1 : libcDup()(fd);
  if (newFd < 0) {
    original.on('data', (chunk: Buffer) => {
      hooks.onBytes(chunk.length);
      try {
        if (!hooks.onChunk((c) => parser.feed(chunk, c))) original.pause();
      } catch (e) {
        hooks.onError(e);
      }
    });
    return original;
  }
  original.destroy();
  const scratch = Buffer.allocUnsafe(1 << 20);
  let target: Buffer = scratch;
  let got = 0;
  const feedTarget = (c: FrameConsumer): boolean => parser.feedRead(target, got, c);
  // `onread` is accepted by the Socket constructor (Node >= 18.13) but missing from its typings.
  const opts = {
    fd: newFd,
    readable: true,
    writable: true,
    onread: {
      buffer: (): Buffer => {
        target = parser.nextReadTarget(scratch);
        return target;
      },
      // Returning false pauses the socket (Node's onread contract).
      callback: (n: number): boolean => {
        hooks.onBytes(n);
        got = n;
        try {
          return hooks.onChunk(feedTarget);
        } catch (e) {
          hooks.onError(e);
          return true;
        }
      },
    },
  };
  return new net.Socket(opts as unknown as net.SocketConstructorOpts);
}
