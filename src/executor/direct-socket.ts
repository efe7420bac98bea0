// The guest connection as the executor reads it. A socket received from the mediator reads in
// 64 KiB pieces into a fresh buffer each time, which caps bulk copies well below what the socket
// can carry. Re-wrapping a duplicate of its descriptor with `onread` lets every read go into a
// buffer the frame parser chooses: the unfilled rest of a large frame body (no copy at all) or a
// reused scratch buffer (no allocation).

import net from 'node:net';
import koffi from 'koffi';

import type { FrameParser, Frame } from '../protocol/frame.js';

let dup: ((fd: number) => number) | undefined;

function libcDup(): (fd: number) => number {
  if (!dup) dup = koffi.load('libc.so.6').func('int dup(int)') as (fd: number) => number;
  return dup;
}

/** The descriptor behind a net.Socket, where Node exposes it (Unix sockets and TCP on Linux). */
function socketFd(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Returns a socket that feeds `parser` directly. Falls back to ordinary 'data' events when the
 * descriptor cannot be had. `onData` reports the bytes read; `onFrame` gets each frame.
 */
export function directSocket(
  original: net.Socket,
  parser: FrameParser,
  onFrame: (f: Frame) => void,
  onBytes: (n: number) => void,
  onError: (e: unknown) => void,
  /** Called after each received chunk has been parsed (a call boundary). */
  afterChunk: () => void = () => {},
): net.Socket {
  const fd = socketFd(original);
  const newFd = fd === undefined ? -1 : libcDup()(fd);
  if (newFd < 0) {
    original.on('data', (chunk: Buffer) => {
      onBytes(chunk.length);
      try {
        parser.push(chunk, onFrame);
        afterChunk();
      } catch (e) {
        onError(e);
      }
    });
    return original;
  }
  original.destroy();
  const scratch = Buffer.allocUnsafe(1 << 20);
  let target: Buffer = scratch;
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
      callback: (n: number) => {
        onBytes(n);
        try {
          parser.pushRead(target, n, onFrame);
          afterChunk();
        } catch (e) {
          onError(e);
        }
        return true;
      },
    },
  };
  return new net.Socket(opts as unknown as net.SocketConstructorOpts);
}
