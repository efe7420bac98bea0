// One guest connection in the mediator, up to the handoff (docs/protocol.md, Handshake):
// HELLO -> authenticate -> WELCOME (device table) -> [PING | STATUS ...] -> ATTACH -> executor.
// Discovery-only guests never get past WELCOME and cost no executor; their NVML asks STATUS here,
// answered from the mediator's accounting. Anything malformed ends the
// connection with one log line; other connections are unaffected.

import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';

import { lz4Available } from '../common/lz4.js';
import { COMPRESS_MINOR, FrameType, HelloFlag, HostFlag, PROTO_MAJOR, PROTO_MINOR } from '../protocol/constants.js';
import { ProtocolError, WireStatus } from '../protocol/errors.js';
import { FrameParser, encodeFrame, type Frame } from '../protocol/frame.js';
import { decodeHello, encodeStatus, encodeWelcome } from '../protocol/handshake.js';
import { decodeStatusRequest, encodeStatusReply, type StatusReply } from '../protocol/status.js';
import { sessionLogger } from '../common/log.js';
import type { Vm } from '../store/index.js';
import { welcomeExt, welcomeMinor, type Placement } from './identity.js';
import { channelLabel, type Channel } from './listen.js';
import type { Admission } from './admission.js';
import type { HandshakeRefusal, MediatorStats } from './stats.js';
import { relayCleartext } from './tls.js';

/** The protocol minor that brought STATUS / STATUS_REPLY. */
const STATUS_MINOR = 2;

export interface ConnectionDeps {
  log: Logger;
  handshakeTimeoutMs: number;
  /** Who the guest is, from its token and the channel it came over (admission.ts). */
  authenticate(token: string, channel: Channel): Admission;
  place(vm: Vm): Placement;
  driverVersion: number;
  softgpu: boolean;
  newSessionId(): number;
  attach(s: GuestSession, socket: Socket): Promise<void>;
  /** This VM's accounting for a STATUS (nvml-status.ts). */
  status(s: GuestSession): StatusReply;
  onEnd(s: GuestSession): void;
  /** Why new sessions are refused (VG_WIRE_STATUS_SHUTDOWN), when they are: the host is draining. */
  closing?(): string | undefined;
  /** Where a tls: session's private relay socket is made (the state directory). */
  relayDir: string;
  /** A session got its WELCOME; `link` reaches it until it attaches or ends. */
  opened(s: GuestSession, link: GuestLink): void;
  /** Counts the handshake's outcomes (src/mediator/stats.ts). */
  stats?: Pick<MediatorStats, 'handshakeRefused' | 'admission'> | undefined;
}

/** The mediator's hold on a connection that has not attached: the shutdown's notices, and the end
 * of connections whose VM was removed or whose token was replaced. */
export interface GuestLink {
  /** Writes whole frames (notices); nothing once the connection is handed over or closed. */
  send(frame: Buffer): void;
  /** Ends the connection with an ERROR frame; nothing once it is handed over or closed. */
  end(code: number, reason: string): void;
}

export interface GuestSession {
  id: number;
  vm: Vm;
  pid: number;
  hostname: string;
  program: string;
  placement: Placement;
  /** The protocol minor of the WELCOME: the lower of the host's and the guest's. */
  minor: number;
  /** Its CALLs may come LZ4-compressed: the guest offered it and the link is remote (tcp:, tls:). */
  compression?: boolean;
  state: 'discovery' | 'attaching' | 'attached' | 'ended';
  /** Admitted by a VM token (not as a Unix-socket guest of the default VM, nor by its vsock
   * channel's binding): ends when the token is replaced. */
  byToken: boolean;
  /** Why the session must end, once its VM was removed or its token replaced while it attached. */
  revoked?: string;
  startedAt: Date;
  executorPid?: number;
  log: Logger;
}

/** The session's VM or token went away since its handshake. */
class Revoked extends Error {}

export function handleConnection(socket: Socket, channel: Channel, deps: ConnectionDeps): void {
  const parser = new FrameParser();
  const peer = channelLabel(channel);
  let log = deps.log.child({ peer });
  let session: GuestSession | undefined;
  let token = '';
  let done = false;

  const timer = setTimeout(() => refuse('timeout', WireStatus.PROTOCOL, 'no HELLO within the handshake timeout'), deps.handshakeTimeoutMs);
  timer.unref();

  /** Ends a connection that has had no WELCOME, counted by why. */
  function refuse(why: HandshakeRefusal, code: number, reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (done) return;
    deps.stats?.handshakeRefused(why);
    drop(code, reason, level);
  }

  function drop(code: number, reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (done) return;
    done = true;
    clearTimeout(timer);
    log[level]({ reason }, 'connection closed');
    try {
      socket.end(encodeFrame(FrameType.ERROR, 0, 0, code, encodeStatus(code, reason)));
    } catch {
      /* already gone */
    }
    socket.destroy();
    if (session) {
      session.state = 'ended';
      ended(session);
    }
  }

  function onHello(f: Frame): void {
    const h = decodeHello(f.payload);
    log.debug({ withToken: h.token !== '' }, 'HELLO received');
    if (h.major !== PROTO_MAJOR) {
      refuse('version', WireStatus.VERSION, `protocol ${h.major}.${h.minor} is not supported (host speaks ${PROTO_MAJOR}.${PROTO_MINOR})`);
      return;
    }
    const closing = deps.closing?.();
    if (closing !== undefined) {
      refuse('shutdown', WireStatus.SHUTDOWN, closing, 'info');
      return;
    }
    token = h.token;
    const admission = deps.authenticate(h.token, channel);
    if ('refused' in admission) {
      deps.stats?.admission({ result: 'refused', reason: admission.why });
      refuse('auth', WireStatus.AUTH, admission.refused);
      return;
    }
    const vm = admission.vm;
    const placement = deps.place(vm);
    if (placement.devices.length === 0) {
      deps.stats?.admission({ result: 'refused', vm: vm.name, reason: 'no_gpu' });
      refuse('admission', WireStatus.ADMISSION, placement.refused ?? `VM ${vm.name}: its pool has no GPU`);
      return;
    }
    deps.stats?.admission({ result: 'admitted', vm: vm.name, reason: admission.by });
    const id = deps.newSessionId();
    log = sessionLogger(log, { session: id, vm: vm.name });
    // Answer in the older of the two minors, so a minor-0 guest never sees the extension block.
    const minor = welcomeMinor(PROTO_MINOR, h.minor);
    // Compression pays only where the link is slower than compressing: never on a Unix socket,
    // a VM's vsock or shared memory (docs/protocol.md, "Compression").
    const compression = minor >= COMPRESS_MINOR && (h.flags & HelloFlag.LZ4) !== 0 && (channel.kind === 'tcp' || channel.kind === 'tls') && lz4Available();
    session = {
      id, vm, pid: h.pid, hostname: h.hostname, program: h.program, placement, minor, compression,
      state: 'discovery', startedAt: new Date(), log, byToken: admission.by === 'token',
    };
    clearTimeout(timer);
    socket.write(encodeFrame(FrameType.WELCOME, 0, f.id, 0, encodeWelcome({
      major: PROTO_MAJOR,
      minor,
      ...(minor >= 1 ? { ext: welcomeExt({ cudaDriverVersion: deps.driverVersion }) } : {}),
      hostFlags: (deps.softgpu ? HostFlag.SOFTGPU : 0) | (compression ? HostFlag.LZ4 : 0),
      sessionId: id,
      driverVersion: deps.driverVersion,
      vmName: vm.name,
      devices: placement.devices,
    })));
    log.info({ guestPid: h.pid, program: h.program, host: h.hostname }, 'session opened');
    deps.opened(session, {
      send: (frame) => {
        if (!done) socket.write(frame);
      },
      end: (code, reason) => drop(code, reason, 'info'),
    });
  }

  /** The token (or the channel's binding, or the default VM) still admits this session to its
   * VM. Checked again before anything is given on its strength, for a store changed by someone the
   * mediator did not hear. */
  function stillAdmitted(s: GuestSession): void {
    const now = deps.authenticate(token, channel);
    if ('vm' in now && now.vm.name === s.vm.name) return;
    throw new Revoked(`VM ${s.vm.name}: ${s.byToken ? 'the VM token is no longer valid' : token === '' && channel.kind === 'unix' ? 'the default VM was removed' : channel.kind === 'tls' ? 'its client certificate binding changed' : 'its vsock binding changed'}`);
  }

  function onAttach(f: Frame, trailing: boolean): void {
    if (trailing) throw new ProtocolError('bytes after ATTACH before ATTACHED');
    const s = session!;
    s.state = 'attaching';
    done = true; // the executor owns the connection from here
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', onError);
    // A reply written just before (WELCOME, PONG, STATUS_REPLY) may still be in flight and fail
    // once the guest has gone; this socket object keeps reporting such failures after the handoff
    // too, so it keeps a handler for the rest of its life. The executor sees the guest's absence
    // on its own descriptor.
    socket.on('error', (e) => log.info({ err: e.message }, 'guest connection failed during the handoff'));
    socket.pause();
    // A TLS guest's executor gets the cleartext through the mediator (tls.ts says why).
    const toExecutor = channel.kind === 'tls' ? relayCleartext(socket as TLSSocket, deps.relayDir, log) : Promise.resolve(socket);
    toExecutor.then((sock) => deps.attach(s, sock)).catch((e: unknown) => {
      if (socket.destroyed) log.info({ err: (e as Error).message }, 'guest left before an executor took the connection');
      else log.error({ err: (e as Error).message }, 'could not start an executor');
      try {
        socket.end(encodeFrame(FrameType.ATTACHED, 0, f.id, 0, encodeStatus(WireStatus.INTERNAL, 'the host could not start an executor')));
      } catch {
        /* gone */
      }
      s.state = 'ended';
      ended(s);
    });
  }

  /** The session is over for the mediator; a failure in its bookkeeping stays with it. */
  function ended(s: GuestSession): void {
    try {
      deps.onEnd(s);
    } catch (e) {
      log.error({ err: (e as Error).stack ?? String(e) }, 'internal error ending the session');
    }
  }

  function onData(chunk: Buffer): void {
    try {
      let frames: Frame[] = [];
      parser.push(chunk, (f) => frames.push(f));
      for (let i = 0; i < frames.length && !done; i++) {
        const f = frames[i]!;
        if (!session) {
          if (f.type !== FrameType.HELLO) throw new ProtocolError(`first frame must be HELLO, got type ${f.type}`);
          onHello(f);
        } else if (f.type === FrameType.PING) {
          socket.write(encodeFrame(FrameType.PONG, 0, f.id, 0, f.payload));
        } else if (f.type === FrameType.STATUS) {
          // A type the guest's minor does not have is as unknown as any other.
          if (session.minor < STATUS_MINOR) throw new ProtocolError(`STATUS needs protocol minor ${STATUS_MINOR} (this session speaks ${session.minor})`);
          decodeStatusRequest(f.payload);
          stillAdmitted(session);
          socket.write(encodeFrame(FrameType.STATUS_REPLY, 0, f.id, 0, encodeStatusReply(deps.status(session))));
        } else if (f.type === FrameType.ATTACH) {
          if (f.payload.length !== 0) throw new ProtocolError('ATTACH carries no payload');
          stillAdmitted(session);
          onAttach(f, i < frames.length - 1 || !parser.idle);
        } else {
          throw new ProtocolError(`frame type ${f.type} is not allowed before ATTACH`);
        }
      }
      frames = [];
      // A guest that sends PINGs or STATUS and never reads must not make the mediator hold the
      // answers without limit: it reads on once the guest has read them.
      if (!done && socket.writableNeedDrain) {
        socket.pause();
        socket.once('drain', () => {
          if (!done) socket.resume();
        });
      }
    } catch (e) {
      if (e instanceof ProtocolError) {
        if (!session) deps.stats?.handshakeRefused('protocol');
        drop(WireStatus.PROTOCOL, e.message);
      }
      else if (e instanceof Revoked) drop(WireStatus.AUTH, e.message);
      else drop(WireStatus.INTERNAL, `internal error: ${(e as Error).message}`, 'warn');
    }
  }

  function onError(e: Error): void {
    drop(WireStatus.PROTOCOL, `socket error: ${e.message}`, 'info');
  }

  function onClose(): void {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (session) {
      log.info({}, 'session closed by guest before attaching');
      session.state = 'ended';
      ended(session);
    }
  }

  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
}
