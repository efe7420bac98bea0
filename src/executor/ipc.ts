// CUDA IPC of one session (docs/ipc.md): what it exported and opened, and its questions to the
// mediator, which keeps the VM's table of exports. The guest never sees the driver's handle
// bytes: an export is registered with the mediator, which answers with a token (the guest's
// handle); an open hands the token back to the mediator, which answers with the driver's bytes
// only when the export is of the same VM. Calls are synchronous, so a call that needs an answer
// throws NeedIpc: the serving loop pauses, asks, records the answer here and replays the call,
// which then finds it.

import type { IpcKind, IpcQuestion } from '../common/executor-ipc.js';

export type { IpcKind, IpcQuestion };

/** Thrown by a call that needs the mediator's answer to `question` before it can go on. */
export class NeedIpc extends Error {
  override readonly name = 'NeedIpc';
  constructor(readonly question: IpcQuestion) {
    super(`needs the mediator's answer to an IPC ${question.op}`);
  }
}

export interface OpenedMemory {
  size: number;
  refs: number;
  /** The guest's handle (the mediator's token) it was opened by. */
  token: string;
  /** The session id of the context it is mapped in. */
  ctx: number;
}

function key(q: IpcQuestion): string {
  return q.op === 'export' ? `export:${q.kind}:${q.handle}` : `lookup:${q.kind}:${q.token}`;
}

export class IpcBook {
  /** Answers received and not yet taken by the replayed call (null: refused). */
  private readonly answers = new Map<string, string | null>();
  /** Memory this session opened: pointer -> its size, references (cuIpcOpenMemHandle counts),
   * the token it was opened by and the context it is mapped in. */
  readonly opened = new Map<number, OpenedMemory>();
  /** Driver handles of this session's exported allocations, by allocation base: the mediator
   * forgets them when the allocation is freed (a freed allocation's handle opens nowhere, as with
   * the driver). */
  private readonly exported = new Map<number, string>();
  /** Tells the mediator that an exported allocation is gone (set by the executor's main). */
  revoke: (kind: IpcKind, handle: string) => void = () => {};
  /** Tells the mediator that this session no longer has open what it looked up by `token`, so
   * the VM's charge for it may end (set by the executor's main). */
  close: (kind: IpcKind, token: string) => void = () => {};

  /** The pointer this session opened `token` at, if it has it open. */
  openedBy(token: string): number | undefined {
    for (const [p, m] of this.opened) if (m.token === token) return p;
    return undefined;
  }

  /** The memory opened at `p` was unmapped (its last close, or its context's destruction). */
  unmapped(p: number): void {
    const m = this.opened.get(p);
    if (!m) return;
    this.opened.delete(p);
    this.close('mem', m.token);
  }

  /** Context `ctx` was destroyed, and with it the memory opened in it: its pointers. */
  contextGone(ctx: number): number[] {
    const gone = [...this.opened].filter(([, m]) => m.ctx === ctx).map(([p]) => p);
    for (const p of gone) this.unmapped(p);
    return gone;
  }

  /** Allocation `base` was exported as the driver's `handle`. */
  exportedAt(base: number, handle: string): void {
    this.exported.set(base, handle);
  }

  /** Allocations are gone: every exported one for which `alive` says no is revoked. */
  freed(alive: (base: number) => boolean): void {
    for (const [base, handle] of this.exported) {
      if (alive(base)) continue;
      this.exported.delete(base);
      this.revoke('mem', handle);
    }
  }

  /** The answer to `q`, taken (a later call asks again); throws NeedIpc when there is none yet. */
  take(q: IpcQuestion): string | null {
    const k = key(q);
    if (!this.answers.has(k)) throw new NeedIpc(q);
    const a = this.answers.get(k)!;
    this.answers.delete(k);
    return a;
  }

  answer(q: IpcQuestion, a: string | null): void {
    this.answers.set(key(q), a);
  }
}
