// The CUDA IPC exports of each VM (docs/ipc.md). A guest's IPC handle is a token made here, never
// the driver's bytes: an executor registers the driver's handle of an export of its session and
// gets the token for its guest; an executor whose guest opens a token gets the driver's handle
// back only when the export is of the same VM and of the same kind. A token of another VM, one
// that was never made, or one whose allocation was freed or whose exporting session has ended is
// refused (null), which the executor answers with the driver's error for a handle it cannot open.

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
}

export class IpcExports {
  private readonly byToken = new Map<string, Export>();
  /** session:kind:handle -> token, so that exporting one thing twice gives one handle, as the
   * driver's does. */
  private readonly tokenOf = new Map<string, string>();

  /** The token of `handle`, exported by `session` of `vm`. */
  export(vm: string, session: number, kind: IpcKind, handle: string): string {
    const k = `${session}:${kind}:${handle}`;
    const known = this.tokenOf.get(k);
    if (known !== undefined) return known;
    const token = newToken();
    this.byToken.set(token, { vm, session, kind, handle });
    this.tokenOf.set(k, token);
    return token;
  }

  /** The driver's handle behind `token` for a session of `vm`, or null. */
  lookup(vm: string, kind: IpcKind, token: string): string | null {
    const e = this.byToken.get(token);
    return e && e.vm === vm && e.kind === kind ? e.handle : null;
  }

  /** An export of `session` is gone (its allocation was freed): its token opens nowhere now. */
  revoke(session: number, kind: IpcKind, handle: string): void {
    const k = `${session}:${kind}:${handle}`;
    const token = this.tokenOf.get(k);
    if (token === undefined) return;
    this.tokenOf.delete(k);
    this.byToken.delete(token);
  }

  /** A session ended: what it exported can no longer be opened (memory already opened elsewhere
   * stays mapped there, as with the driver). */
  dropSession(session: number): void {
    for (const [token, e] of this.byToken) {
      if (e.session !== session) continue;
      this.byToken.delete(token);
      this.tokenOf.delete(`${session}:${e.kind}:${e.handle}`);
    }
  }

  get size(): number {
    return this.byToken.size;
  }
}
