// NOTIFY frames from the host (docs/protocol.md, "Notices"), sent only to guests whose WELCOME
// minor is NOTICE_MINOR or more.

import { FrameType, Notice } from './constants.js';
import { encodeFrame } from './frame.js';
import { decodeStatus, encodeStatus } from './handshake.js';

/** Kernel output for the guest program's stdout (fd 1) or stderr (fd 2). */
export function outputNotice(fd: 1 | 2, bytes: Buffer): Buffer {
  return encodeFrame(FrameType.NOTIFY, 0, 0, fd === 1 ? Notice.STDOUT : Notice.STDERR, bytes);
}

export interface ShutdownNotice {
  /** How long the host still serves the session, in ms. */
  graceMs: number;
  message: string;
}

/** The payload has ERROR's layout (u32, str); the u32 is the grace time. */
export function shutdownNotice(n: ShutdownNotice): Buffer {
  return encodeFrame(FrameType.NOTIFY, 0, 0, Notice.SHUTDOWN, encodeStatus(Math.min(0xffffffff, Math.max(0, Math.round(n.graceMs))), n.message));
}

export function decodeShutdownNotice(payload: Buffer): ShutdownNotice {
  const s = decodeStatus(payload);
  return { graceMs: s.code, message: s.message };
}
