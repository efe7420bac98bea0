// A guest written in TypeScript, speaking the wire protocol directly: lets tests send exactly the
// frames they want (valid, malformed, truncated, lying) to a real mediator.

import net from 'node:net';

import { FrameType, HELLO_MAGIC, PROTO_MAJOR, PROTO_MINOR } from '../../src/protocol/constants.js';
import { FrameParser, encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { decodeStatus, decodeWelcome, encodeHello, type Welcome } from '../../src/protocol/handshake.js';
import { Writer } from '../../src/protocol/writer.js';

export class TestGuest {
  private readonly parser = new FrameParser();
  private readonly frames: Frame[] = [];
  private waiting: (() => void) | null = null;
  closed = false;
  /** NOTIFY frames met while waiting for an answer (docs/protocol.md, "Notices"). */
  readonly notices: Frame[] = [];
  private nextId = 1;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.parser.push(c, (f) => this.frames.push({ ...f, payload: Buffer.from(f.payload) }));
      this.waiting?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    sock.on('error', () => {});
  }

  static connect(socketPath: string): Promise<TestGuest> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath, () => resolve(new TestGuest(s)));
      s.once('error', reject);
    });
  }

  static connectTcp(host: string, port: number): Promise<TestGuest> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new TestGuest(s)));
      s.once('error', reject);
    });
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  /** Next frame from the host, or null if the connection closed first. */
  async next(timeoutMs = 10_000): Promise<Frame | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 50);
      });
      this.waiting = null;
    }
    return this.frames.shift()!;
  }

  /** Next frame that is not a notice (notices are kept in `notices`), or null on close. */
  async answer(timeoutMs = 10_000): Promise<Frame | null> {
    for (;;) {
      const f = await this.next(timeoutMs);
      if (f?.type !== FrameType.NOTIFY) return f;
      this.notices.push(f);
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** HELLO in this build's minor, or `opts.minor` (an older guest); `opts.flags` are its HelloFlag. */
  async hello(token = '', opts: { minor?: number; flags?: number } = {}): Promise<Welcome> {
    this.send(encodeFrame(FrameType.HELLO, 0, 0, 0, encodeHello({
      major: PROTO_MAJOR, minor: opts.minor ?? PROTO_MINOR, flags: opts.flags ?? 0, pid: process.pid, token, hostname: 'test', program: 'node-test',
    })));
    const f = await this.next();
    if (!f) throw new Error('closed during handshake');
    if (f.type === FrameType.ERROR) throw new Error(`refused: ${decodeStatus(f.payload).message}`);
    if (f.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${f.type}`);
    return decodeWelcome(f.payload);
  }

  async attach(): Promise<void> {
    this.send(encodeFrame(FrameType.ATTACH, 0, 0, 0));
    const f = await this.answer();
    if (!f || f.type !== FrameType.ATTACHED) throw new Error(`expected ATTACHED, got ${f ? f.type : 'close'}`);
    const st = decodeStatus(f.payload);
    if (st.code !== 0) throw new Error(`attach refused: ${st.message}`);
  }

  /** Sends one CALL (args already encoded after the ctx prefix) and returns the logical reply. */
  async call(op: number, ctx: number, args: (w: Writer) => void, flags = 0): Promise<{ result: number; payload: Buffer } | null> {
    const w = new Writer();
    w.u64(ctx);
    args(w);
    const id = this.nextId++;
    this.send(encodeFrame(FrameType.CALL, flags, id, op, w.take()));
    if (flags & 0x3) return null; // NOREPLY, or MORE: the reply follows the last piece
    const parts: Buffer[] = [];
    for (;;) {
      const f = await this.answer();
      if (!f) throw new Error('connection closed while waiting for a reply');
      if (f.type !== FrameType.REPLY || f.id !== id) throw new Error(`unexpected frame type ${f.type} id ${f.id}`);
      parts.push(f.payload);
      if (!(f.flags & 0x2)) break;
    }
    const all = Buffer.concat(parts);
    return { result: all.readUInt32LE(0), payload: all.subarray(4) };
  }

  close(): void {
    this.sock.destroy();
  }
}

export { HELLO_MAGIC };
