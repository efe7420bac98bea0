// Reads the frames an executor sends, from the guest's side of its connection (the executor tests).

import type net from 'node:net';

import { HEADER_SIZE } from '../../src/protocol/constants.js';

export interface ReceivedFrame {
  type: number;
  id: number;
  payload: Buffer;
}

/** Reads frames from the guest side of the socket; fails once the executor closes it. */
export function replies(sock: net.Socket): { next(): Promise<ReceivedFrame> } {
  let buf = Buffer.alloc(0);
  let closed = false;
  const waiting: Array<() => void> = [];
  const wake = (): void => waiting.splice(0).forEach((w) => w());
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake();
  });
  sock.on('close', () => {
    closed = true;
    wake();
  });
  return {
    async next() {
      for (;;) {
        if (buf.length >= HEADER_SIZE && buf.length >= HEADER_SIZE + buf.readUInt32LE(0)) {
          const len = buf.readUInt32LE(0);
          const f = { type: buf.readUInt16LE(4), id: buf.readUInt32LE(8), payload: Buffer.from(buf.subarray(HEADER_SIZE, HEADER_SIZE + len)) };
          buf = buf.subarray(HEADER_SIZE + len);
          return f;
        }
        if (closed) throw new Error('the executor closed the connection');
        await new Promise<void>((r) => waiting.push(r));
      }
    },
  };
}

