// The messages between the mediator and an executor process: one schema per message and direction,
// the types both sides build from, and the sending helpers. Two channels carry them
// (docs/executors.md): Node's IPC channel of child_process (JSON serialization) carries only the
// session message, because the guest's connection travels with it as a descriptor; everything
// else goes over the control socket, `<stateDir>/executors.sock`, one JSON message a line
// (src/common/control-link.ts), which a new mediator can accept again after the old one died. The
// executor greets the control socket with `hello` (a fresh executor, ready for a session) or
// `adopt` (an executor serving a session, reconnecting to a new mediator). The mediator hands the
// guest connection over with the session message and then steers the executor (scheduler slices, quota answers and requests to trim unused quota, the
// VM's memory use, an operator's kill, the host's shutdown); the executor asks for slices and
// quota and reports usage until its session ends.
//
// Each side validates what it receives. A message that fails validation means the two sides
// disagree about this channel (a bug, or builds that do not match): the session cannot go on
// safely, so that executor ends. The mediator kills it, or the executor exits by itself; its
// guest sees the connection close, and the rest of the host carries on.
//
// Sending never throws and never leaves an 'error' event unheard: a send to an executor that is
// exiting fails (EPIPE, ERR_IPC_CHANNEL_CLOSED) while its exit, which ends the session, is on its
// way, so the failure is only reported to the caller.

import type { MessageOptions, SendHandle, Serializable } from 'node:child_process';
import type { Socket } from 'node:net';
import { z } from 'zod';

import { CODE_CACHE_STATES, type LaunchInfo } from '../executor/launch-form.cjs';
import type { FromZygote, ToZygote } from './zygote-ipc.js';

/** How long the guest of a session an operator ended has to send its next request and read why:
 * the executor lingers that long, and the mediator kills it if it stays much longer. */
export const KILL_LINGER_MS = 10_000;

const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Nanoseconds of call time, which is fractional. */
const nanoseconds = z.number().min(0).max(Number.MAX_SAFE_INTEGER);

/** An IPC handle or token (docs/ipc.md): 64 bytes in hex. */
const ipcBytes = z.string().regex(/^[0-9a-f]{128}$/);
const ipcReq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** What is shared: device memory (cuIpcGetMemHandle), an event, a physical allocation (VMM). */
const ipcKind = z.enum(['mem', 'event', 'vmm']);
export type IpcKind = z.infer<typeof ipcKind>;
const ipcQuestion = z.discriminatedUnion('op', [
  /** `bytes`: the device memory the export stands for (0 for an event), which stays charged to
   * the VM while another session has it open (docs/ipc.md). */
  z.strictObject({ op: z.literal('export'), kind: ipcKind, handle: ipcBytes, bytes }),
  z.strictObject({ op: z.literal('lookup'), kind: ipcKind, token: ipcBytes }),
]);
/** A question to the mediator: register the driver's handle of an export (for a token to give the
 * guest), or name the driver's handle behind a token. */
export type IpcQuestion = z.infer<typeof ipcQuestion>;

// ---- mediator -> executor ----------------------------------------------------------------------

/** The session to serve; the guest's connection travels with it as the message's handle. */
export const sessionMessageSchema = z.strictObject({
  type: z.literal('session'),
  sessionId: z.number().int().nonnegative(),
  vm: z.string(),
  deviceMap: z.array(z.number().int().nonnegative()).max(64),
  memoryQuota: z.number().int().positive().nullable(),
  /** The host's module image store (src/common/image-store.ts), and its limits. */
  imageDir: z.string().min(1),
  imageLimits: z.strictObject({ perVm: bytes, total: bytes }),
  /** When true, calls run only while the mediator's scheduler grants this session its GPU. */
  scheduled: z.boolean(),
  /** The VM's device memory in use by its other sessions when this one attaches. */
  vmUsed: bytes,
  /** Bytes of guest data the executor may receive ahead of serving it (its share of the host's
   * staging bound, docs/executors.md "Staging"); later changes come as `staging` messages. */
  stagingShare: bytes,
  /** The protocol minor of the session's WELCOME: from NOTICE_MINOR on, the guest is sent notices
   * (kernel output, shutdown). */
  minor: z.number().int().min(0).max(0xffff),
  /** The WELCOME offered compression: the guest's CALLs may come LZ4-compressed (Flag.LZ4). */
  compression: z.boolean().optional(),
  /** Host-to-device copies may run without the GPU slice (docs/executors.md, "Copy lane"). */
  copyLane: z.boolean(),
  /** The host file behind the VM's ivshmem region (the store's, never the guest's word): the
   * executor maps it for bulk copies (docs/virtual-machines.md, "Shared memory"). */
  shmPath: z.string().min(1).max(4096).nullable().optional(),
  /** Who the guest is, as its HELLO said: the executor keeps it for a new mediator's adoption. */
  guest: z.strictObject({
    pid: z.number().int().min(0).max(0xffffffff),
    hostname: z.string().max(256),
    program: z.string().max(256),
    byToken: z.boolean(),
    startedAt: z.string().datetime(),
  }),
});

export const toExecutorSchema = z.discriminatedUnion('type', [
  sessionMessageSchema,
  /** The session holds its GPU now; `contended` when others wait for it. */
  z.strictObject({ type: z.literal('grant'), contended: z.boolean() }),
  /** The quantum is over and others wait: yield at the next call boundary. */
  z.strictObject({ type: z.literal('preempt') }),
  /** Others now wait for the GPU this session holds. */
  z.strictObject({ type: z.literal('contended') }),
  /** The answer to `reserve`: bytes of the VM's quota granted (0: refused). */
  z.strictObject({ type: z.literal('quota'), granted: bytes }),
  /** The session's staging share changed (sessions attached or ended). */
  z.strictObject({ type: z.literal('staging'), bytes }),
  /** Another session of the VM waits for quota: give back what is reserved but not held, and
   * answer with `release` even when that is nothing, so the mediator knows when to decide. */
  z.strictObject({ type: z.literal('trim') }),
  /** The VM's device memory in use, all its sessions together, and this session's part. */
  z.strictObject({ type: z.literal('vmUsage'), bytes, own: bytes }),
  /** An operator ended the session, or the host's shutdown did (`shutdown`: the guest is told
   * VG_WIRE_STATUS_SHUTDOWN instead of KILLED); the guest is told `reason`. */
  z.strictObject({ type: z.literal('kill'), reason: z.string().max(400), shutdown: z.literal(true).optional() }),
  /** The answer to `ipc` request `req`: a token (export) or the driver's handle (lookup), 64
   * bytes in hex; null when refused. */
  z.strictObject({ type: z.literal('ipcAnswer'), req: ipcReq, value: ipcBytes.nullable() }),
  /** The host is shutting down: the guest is told it has `graceMs` left (a SHUTDOWN notice). */
  z.strictObject({ type: z.literal('shutdown'), graceMs: z.number().int().min(0).max(0xffffffff), message: z.string().max(400) }),
]);
export type ToExecutor = z.infer<typeof toExecutorSchema>;
export type SessionMessage = z.infer<typeof sessionMessageSchema>;

// ---- executor -> mediator ----------------------------------------------------------------------

/** The `usage` report: deltas since the executor's last one (src/mediator/usage-meter.ts). */
export const usageMessageSchema = z.strictObject({
  type: z.literal('usage'),
  calls: bytes,
  asyncCalls: bytes,
  /** Bytes received from the guest (arguments and host-to-device data). */
  bytesIn: bytes,
  /** Bytes sent to the guest (results and device-to-host data). */
  bytesOut: bytes,
  /** Bytes copied to the device from the shared region, and from the device into it (docs/protocol.md,
   * "Shared memory"): bulk data that never crossed the socket. Absent from executors that predate it. */
  shmIn: bytes.default(0),
  shmOut: bytes.default(0),
  /** Time the executor spent running the session's calls on the device. */
  busyNs: bytes,
  /** Bytes received while the session waited for its GPU slice, the times reading stopped at the
   * staging share, and the most unserved bytes held at once (docs/executors.md, "Staging"). Absent
   * from executors that predate staging. */
  staged: bytes.default(0),
  /** Bytes of host-to-device copies served on the copy lane, without the GPU slice
   * (docs/executors.md, "Copy lane"). Absent from executors that predate it. */
  laneIn: bytes.default(0),
  stagingStalls: bytes.default(0),
  stagedPeak: bytes.default(0),
  /** Of the calls, those the native hot path served (docs/executors.md, "Native hot path"). Absent
   * from executors that predate it. */
  nativeCalls: bytes.default(0),
  /** Device memory the session holds now, and the most it held. */
  memoryNow: bytes,
  peakMemory: bytes,
  final: z.boolean().optional(),
});
/** As sent: the shared-memory and staging counts may be left out (validation makes them 0). */
export type UsageMessage = z.input<typeof usageMessageSchema>;

/** A serving executor's whole state, sent to a new mediator when it reconnects after the old one
 * went away (src/mediator/sessions.ts validates it against the store before adopting it). */
export const adoptMessageSchema = z.strictObject({
  type: z.literal('adopt'),
  pid: z.number().int().positive().max(0x7fffffff),
  /** The driver it runs calls on: GPU ordinals mean something only to a mediator of the same. */
  backend: z.enum(['softgpu', 'cuda']),
  sessionId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  vm: z.string().min(1).max(63),
  deviceMap: z.array(z.number().int().nonnegative().max(1023)).min(1).max(64),
  minor: z.number().int().min(0).max(0xffff),
  guest: sessionMessageSchema.shape.guest,
  /** Quota this session holds a reservation of (null: its VM had no quota when it attached), what
   * it really holds, and reservations it asked for that were never answered (asked again). */
  quota: z.strictObject({ reserved: bytes.nullable(), held: bytes, pending: z.array(bytes.positive()).max(64) }),
  /** Usage the previous mediator was told (the new one counts only what comes after). */
  usage: z.strictObject({ calls: bytes, asyncCalls: bytes, bytesIn: bytes, bytesOut: bytes, busyNs: nanoseconds, memoryNow: bytes, peakMemory: bytes }),
  /** The session has work waiting for its GPU (it gave up any slice it held when it lost the
   * mediator, so no two sessions of a GPU run at once after the adoption). */
  wanting: z.boolean(),
});
export type AdoptMessage = z.infer<typeof adoptMessageSchema>;

const launchInfoSchema: z.ZodType<LaunchInfo> = z.strictObject({ form: z.enum(['bundle', 'modules']), codeCache: z.enum(CODE_CACHE_STATES) });

export const fromExecutorSchema = z.discriminatedUnion('type', [
  /** The driver is loaded and initialised: the executor can take a session (the first message on a
   * fresh executor's control connection). */
  z.strictObject({
    type: z.literal('ready'),
    pid: z.number().int().positive().max(0x7fffffff),
    /** How it was loaded (src/executor/launch-form.ts): the mediator warns when executors start
     * without their code cache, which makes every session start slower. */
    launch: launchInfoSchema.optional(),
  }),
  adoptMessageSchema,
  /** The session has work and asks for its GPU (src/executor/gate.ts). */
  z.strictObject({ type: z.literal('want') }),
  /** The session gives its GPU back after `usedNs` of device time; `again` when it still has work
   * (decided with the yield, so the scheduler weighs it against the others). */
  z.strictObject({ type: z.literal('yield'), usedNs: nanoseconds, again: z.boolean() }),
  usageMessageSchema,
  /** Asks for `bytes` more of the VM's memory quota (answered by `quota`). */
  z.strictObject({ type: z.literal('reserve'), bytes }),
  /** CUDA IPC (docs/ipc.md), answered by `ipcAnswer`: register the driver's handle of an export
   * of this session, for a token to give the guest; or ask for the driver's handle behind a token
   * one of the VM's guests was given. */
  z.strictObject({
    type: z.literal('ipc'),
    req: ipcReq,
    question: ipcQuestion,
  }),
  /** An export of this session is gone (its allocation was freed): its token opens nowhere now. */
  z.strictObject({ type: z.literal('ipcRevoke'), kind: ipcKind, handle: ipcBytes }),
  /** This session no longer has open the memory or allocation behind `token`, which it looked up
   * (its last cuIpcCloseMemHandle, the release of the imported allocation, the destruction of its
   * context, or an open the driver refused): the VM's charge for it may end (docs/ipc.md). */
  z.strictObject({ type: z.literal('ipcClose'), kind: ipcKind, token: ipcBytes }),
  /** Gives back quota the session no longer needs. */
  z.strictObject({ type: z.literal('release'), bytes }),
  /** Device memory the session holds now. */
  z.strictObject({ type: z.literal('used'), bytes }),
  /** The guest of a killed session has been sent why. */
  z.strictObject({ type: z.literal('killing') }),
  /** The session ended; the process exits next. */
  z.strictObject({
    type: z.literal('ended'),
    stats: z.object({ calls: bytes, asyncCalls: bytes, bytesIn: bytes, bytesOut: bytes, busyNs: nanoseconds }),
    peakMemory: bytes,
    reason: z.string(),
  }),
]);
export type FromExecutor = z.infer<typeof fromExecutorSchema>;

/** The message of one type. */
export type MessageOf<M extends { type: string }, T extends M['type']> = Extract<M, { type: T }>;

/** One end of the channel: a ChildProcess on the mediator's side, the process on the executor's. */
export interface IpcEnd {
  readonly connected: boolean;
  send?(message: Serializable, sendHandle: SendHandle | undefined, options: MessageOptions | undefined, callback: (error: Error | null) => void): boolean;
}

/**
 * Sends `m`, with the guest's connection when `handle` is given. Resolves null once it is written,
 * or with the error that kept it from being sent; never rejects or throws.
 *
 * The sender's copy of the connection is closed as soon as the message is written (when the send
 * fails it stays open, for the caller to tell the guest why): the descriptor then travels in the
 * message, so a receiver that dies before reading it takes the connection with it and the guest
 * sees it close. Node's own `keepOpen: false` keeps the copy until the receiver acknowledges the handle,
 * which a receiver that died never does: the mediator then held the guest's connection open
 * forever, and the guest waited for an executor that was gone.
 */
export function sendIpc(end: IpcEnd, m: ToExecutor | FromExecutor | FromZygote | ToZygote, handle?: Socket): Promise<Error | null> {
  return new Promise((resolve) => {
    if (!end.connected || !end.send) {
      resolve(Object.assign(new Error('the IPC channel is closed'), { code: 'ERR_IPC_CHANNEL_CLOSED' }));
      return;
    }
    try {
      end.send(m, handle, handle ? { keepOpen: true } : undefined, (err) => {
        if (!err) handle?.destroy();
        resolve(err);
      });
    } catch (e) {
      // Synchronous failures (a message JSON cannot carry) are reported the same way.
      resolve(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** Why a received message is not one of the channel's, for the log. */
export function ipcIssue(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.join('.') || 'message'}: ${i.message}` : 'invalid';
}
