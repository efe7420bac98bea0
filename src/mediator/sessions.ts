// The session registry: sessions attaching or attached to an executor, and the executor of each.
// A mediator fills it as guests attach, and a new mediator refills it from the executors that
// outlived the old one (docs/executors.md, Adoption): `checkAdopt` decides whether what such an
// executor reports can be taken over, against the store and this host's devices.

import type { Logger } from 'pino';

import type { AdoptMessage } from '../common/executor-ipc.js';
import { sessionLogger } from '../common/log.js';
import type { Vm } from '../store/index.js';
import type { GuestSession } from './connection.js';
import type { ExecutorHandle } from './executors.js';
import type { Placement } from './identity.js';

/** What adoption checks a report against. */
export interface AdoptContext {
  /** The VM as the store has it now; undefined once removed. */
  findVm(name: string): Vm | undefined;
  /** This host's backend, and the physical GPU ordinals it has. */
  backend: string;
  ordinals: ReadonlySet<number>;
  /** The highest session id the store has handed out: a higher one was never a session here. */
  lastSessionId: number;
}

export type AdoptVerdict = { ok: true; vm: Vm } | { ok: false; reason: string };

export class SessionRegistry {
  /** Sessions attaching or attached to an executor. */
  readonly sessions = new Map<number, GuestSession>();
  /** The executor of each attached session. */
  readonly executors = new Map<number, ExecutorHandle>();

  get size(): number {
    return this.sessions.size;
  }

  get(id: number): GuestSession | undefined {
    return this.sessions.get(id);
  }

  ofVm(vm: string): GuestSession[] {
    return [...this.sessions.values()].filter((s) => s.vm.name === vm);
  }

  /**
   * Whether an executor's `adopt` report can be taken over. It was validated for shape already
   * (src/common/executor-ipc.ts: non-negative integers, bounded strings); this checks it against
   * the host: the VM must still exist, the id must be one the store handed out and no session
   * here has, the executor must serve no other session, and its GPUs must be this host's. A
   * refused report's session is ended (the reason goes to its guest).
   */
  checkAdopt(m: AdoptMessage, ctx: AdoptContext): AdoptVerdict {
    const vm = ctx.findVm(m.vm);
    if (!vm) return { ok: false, reason: `its VM ${m.vm} no longer exists` };
    if (m.sessionId > ctx.lastSessionId) return { ok: false, reason: `session id ${m.sessionId} was never handed out on this host` };
    if (this.sessions.has(m.sessionId)) return { ok: false, reason: `session ${m.sessionId} is already running here` };
    for (const e of this.executors.values()) {
      if (e.pid === m.pid) return { ok: false, reason: `executor ${m.pid} already serves another session` };
    }
    if (m.backend !== ctx.backend) return { ok: false, reason: `it runs on ${m.backend}, this host's mediator on ${ctx.backend}` };
    const foreign = m.deviceMap.find((o) => !ctx.ordinals.has(o));
    if (foreign !== undefined) return { ok: false, reason: `GPU ${foreign} is not one of this host's` };
    if (m.quota.reserved !== null && m.quota.held > m.quota.reserved && vm.memoryQuota !== null) {
      // An executor never holds more than its reservation while its VM has a quota.
      return { ok: false, reason: `it reports holding ${m.quota.held} bytes of a ${m.quota.reserved}-byte reservation` };
    }
    return { ok: true, vm };
  }

  /** Registers the session of an accepted `adopt` report (checkAdopt), attached, as the guest's
   * HELLO described it. `placement` is the VM's device table on the report's GPUs: the session
   * keeps the GPUs its executor serves, whatever the VM's settings say now. */
  adopt(m: AdoptMessage, vm: Vm, placement: Placement, parentLog: Logger): GuestSession {
    const s: GuestSession = {
      id: m.sessionId, vm, pid: m.guest.pid, hostname: m.guest.hostname, program: m.guest.program,
      placement: { ...placement, deviceMap: [...m.deviceMap] }, minor: m.minor, state: 'attached', byToken: m.guest.byToken,
      startedAt: new Date(m.guest.startedAt), executorPid: m.pid,
      log: sessionLogger(parentLog, { session: m.sessionId, vm: vm.name }),
    };
    this.sessions.set(s.id, s);
    return s;
  }
}
