// The CUDA IPC exports of each VM (docs/ipc.md). A guest's IPC handle is a token made here, never
// the driver's bytes: an executor registers the driver's handle of an export of its session and
// gets the token for its guest; an executor whose guest opens a token gets the driver's handle
// back only when the export is of the same VM and of the same kind. A token of another VM, one
// that was never made, or one whose allocation was freed or whose exporting session has ended is
// refused (null), which the executor answers with the driver's error for a handle it cannot open.
//
// The table also keeps who has each memory export open. The driver keeps memory alive while any
// process has it open, whatever its exporter does, so memory whose exporter freed it or ended
// while other sessions of its VM still have it open stays charged to the VM (`charged`) until the
// last of them closes it or ends: otherwise a VM could hold more device memory than its quota.

import { randomBytes } from 'node:crypto';

import type { IpcKind } from '../common/executor-ipc.js';

/** A token: 32 random bytes, then zeros, as 64 bytes in hex (the size of a CUDA IPC handle). */
function newToken(): string {
  return randomBytes(32).toString('hex') + '0'.repeat(64);
}

interface Export {
  vm: string;
  session: number;
  kind: IpcKind;
  handle: string;
  /** Device memory it stands for (0 for an event). */
  bytes: number;
  /** Sessions other than the exporter that looked it up and have not closed it. */
  openers: Set<number>;
}

export class IpcExports {
  /** Exports that open. */
  private readonly byToken = new Map<string, Export>();
  /** session:kind:handle -> token, so that exporting one thing twice gives one handle, as the
   * driver's does. */
  private readonly tokenOf = new Map<string, string>();
  /** Exports whose exporter let go of them (freed, or ended) while other sessions have them open:
   * they open nowhere, and their bytes are the VM's until the last opener closes them. */
  private readonly orphans = new Map<string, Export>();

  /** The token of `handle` (`bytes` of device memory), exported by `session` of `vm`. */
  export(vm: string, session: number, kind: IpcKind, handle: string, bytes: number): string {
    const k = `${session}:${kind}:${handle}`;
    const known = this.tokenOf.get(k);
    if (known !== undefined) return known;
    const token = newToken();
    this.byToken.set(token, { vm, session, kind, handle, bytes, openers: new Set() });
    this.tokenOf.set(k, token);
    return token;
  }

  /**
   * The driver's handle behind `token` for `session` of `vm`, or null. Memory and VMM exports
   * count the session as an opener from here on (the driver may map it before the session could
   * tell), until it reports the close (`close`) or ends. Events hold no memory and are not counted.
   */
  lookup(vm: string, session: number, kind: IpcKind, token: string): string | null {
    const e = this.byToken.get(token);
    if (!e || e.vm !== vm || e.kind !== kind) return null;
    if (kind !== 'event' && session !== e.session) e.openers.add(session);
    return e.handle;
  }

  /** `session` closed what it opened of `token`. Returns the VM whose charge went down, if any. */
  close(session: number, token: string): string | null {
    const live = this.byToken.get(token);
    if (live) {
      live.openers.delete(session);
      return null;
    }
    const o = this.orphans.get(token);
    if (!o || !o.openers.delete(session) || o.openers.size > 0) return null;
    this.orphans.delete(token);
    return o.vm;
  }

  /** An export of `session` is gone (its allocation was freed): its token opens nowhere now, and
   * its memory stays charged to the VM while others have it open. Returns the VM whose charge went
   * up, if any. */
  revoke(session: number, kind: IpcKind, handle: string): string | null {
    const k = `${session}:${kind}:${handle}`;
    const token = this.tokenOf.get(k);
    if (token === undefined) return null;
    this.tokenOf.delete(k);
    return this.orphan(token);
  }

  /** A session ended: what it exported can no longer be opened (memory already opened elsewhere
   * stays mapped there, and charged, as with the driver), and what it had open is closed. Returns
   * the VMs whose charge changed. */
  dropSession(session: number): Set<string> {
    const changed = new Set<string>();
    for (const [token, e] of this.byToken) {
      if (e.session === session) {
        this.tokenOf.delete(`${session}:${e.kind}:${e.handle}`);
        const vm = this.orphan(token);
        if (vm !== null) changed.add(vm);
      } else {
        e.openers.delete(session);
      }
    }
    for (const token of [...this.orphans.keys()]) {
      const vm = this.close(session, token);
      if (vm !== null) changed.add(vm);
    }
    return changed;
  }

  /** Bytes of `vm`'s device memory open in its sessions whose exporter let go of it. */
  charged(vm: string): number {
    let bytes = 0;
    for (const o of this.orphans.values()) if (o.vm === vm) bytes += o.bytes;
    return bytes;
  }

  /** Exports that open. */
  get size(): number {
    return this.byToken.size;
  }

  /** Moves the export of `token` out of the table of those that open; kept while it has openers.
   * Returns its VM when it is kept and holds memory. */
  private orphan(token: string): string | null {
    const e = this.byToken.get(token);
    if (!e) return null;
    this.byToken.delete(token);
    if (e.openers.size === 0) return null;
    this.orphans.set(token, e);
    return e.bytes > 0 ? e.vm : null;
  }
}
