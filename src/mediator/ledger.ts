// The quota ledger (docs/operations.md, Scheduling and quotas): how much of its VM's memory quota
// each session has reserved and how much it really holds. A VM's sessions together never reserve
// more than its quota. A session asks for more before an allocation (`reserve`); it is granted
// what it asked plus some slack, so a run of small allocations costs one request; slack the VM's
// other sessions hold but do not use is no reason to refuse, they are asked to give it back
// (`trim`) and the request waits for their answers, so the VM is refused exactly at its quota.
//
// The ledger is pure bookkeeping over the sessions it is told about: a new mediator rebuilds it
// from what adopted executors report (`adopt`), so the quota stays enforced across a restart.

import type { ToExecutor } from '../common/executor-ipc.js';

/** Extra quota granted with each reservation, so many small allocations cost one request. */
export const QUOTA_SLACK = 64 * 1024 * 1024;

export interface LedgerDeps {
  /** The VM's quota as the store has it now (null: none). */
  quota(vm: string): number | null;
  /** Device memory charged to the VM that no session of it holds: memory open by IPC in some of
   * its sessions after its exporter freed it or ended (src/mediator/ipc-exports.ts). */
  charged?(vm: string): number;
  /** Reaches the session's executor; false when it has none (attaching, or gone). */
  send(id: number, m: ToExecutor): boolean;
  /** A reservation was granted. */
  granted?(id: number): void;
  /** A reservation was refused: the VM's quota is reached. */
  refused(id: number, detail: { requested: number; held: number; quota: number | null }): void;
}

export class QuotaLedger {
  /** Each session's VM. */
  private readonly vmOf = new Map<number, string>();
  /** Bytes of its VM's quota each session reserved, by VM. */
  private readonly reserved = new Map<string, Map<number, number>>();
  /** Device memory each session really holds (reservations include some slack). */
  private readonly used = new Map<number, number>();
  /** Requests waiting for the VM's other sessions to give back their slack (trim), by VM. */
  private readonly trimming = new Map<string, { waiting: Set<number>; queue: Array<{ id: number; bytes: number }> }>();

  constructor(private readonly deps: LedgerDeps) {}

  /** A session joins its VM's ledger (it holds nothing yet). */
  open(id: number, vm: string): void {
    this.vmOf.set(id, vm);
  }

  /**
   * A session a previous mediator ran, as its executor reports it: `reserved` of the quota (null:
   * its VM had no quota when it attached, so it never reserved), of which it holds `held`. What it
   * holds is counted even when it is more than the quota allows now (the operator may have lowered
   * it meanwhile): memory held cannot be taken back, only further allocations refused.
   */
  adopt(id: number, vm: string, reserved: number | null, held: number): void {
    if (this.vmOf.has(id)) throw new Error(`session ${id} is already in the ledger`);
    if (!(Number.isSafeInteger(held) && held >= 0) || (reserved !== null && !(Number.isSafeInteger(reserved) && reserved >= 0))) {
      throw new Error(`session ${id}: reserved and held bytes must be non-negative integers`);
    }
    this.vmOf.set(id, vm);
    this.used.set(id, held);
    if (reserved !== null) this.entries(vm).set(id, Math.max(reserved, held));
  }

  has(id: number): boolean {
    return this.vmOf.has(id);
  }

  private entries(vm: string): Map<number, number> {
    let l = this.reserved.get(vm);
    if (!l) {
      l = new Map();
      this.reserved.set(vm, l);
    }
    return l;
  }

  /** Bytes of the VM's quota its sessions have reserved, and what is charged to no session. */
  vmReserved(vm: string): number {
    let sum = this.deps.charged?.(vm) ?? 0;
    for (const b of this.reserved.get(vm)?.values() ?? []) sum += b;
    return sum;
  }

  /** Device memory the VM's sessions hold, and what is charged to no session. */
  vmUsed(vm: string): number {
    let bytes = this.deps.charged?.(vm) ?? 0;
    for (const [id, v] of this.vmOf) if (v === vm) bytes += this.used.get(id) ?? 0;
    return bytes;
  }

  /** What the session holds now, as it last reported. */
  usedBy(id: number): number {
    return this.used.get(id) ?? 0;
  }

  /**
   * Grants `bytes` more (plus slack) if the VM stays within its quota; answers 0 otherwise. `keep`
   * is quota the slack must leave free: requests decided right after this one (see trimAnswered).
   */
  reserve(id: number, bytes: number, mayTrim = true, keep = 0): void {
    const vm = this.vmOf.get(id);
    if (vm === undefined) return;
    const pending = this.trimming.get(vm);
    if (pending && mayTrim) {
      pending.queue.push({ id, bytes });
      return;
    }
    const quota = this.deps.quota(vm);
    const held = this.vmReserved(vm);
    let granted = 0;
    if (quota === null) granted = bytes;
    else if (held + bytes <= quota) granted = bytes + Math.max(0, Math.min(QUOTA_SLACK, quota - held - bytes - keep));
    else if (mayTrim && held - this.vmSlack(vm, id) + bytes <= quota) {
      this.trim(vm, id, bytes);
      return;
    }
    if (granted > 0) {
      const l = this.entries(vm);
      l.set(id, (l.get(id) ?? 0) + granted);
      this.deps.granted?.(id);
    } else {
      this.deps.refused(id, { requested: bytes, held, quota });
    }
    this.deps.send(id, { type: 'quota', granted });
    this.publish(vm);
  }

  /** The session gives back quota it no longer needs (also its answer to a trim). */
  release(id: number, bytes: number): void {
    const vm = this.vmOf.get(id);
    if (vm === undefined) return;
    const l = this.reserved.get(vm);
    const cur = l?.get(id);
    if (l && cur !== undefined) {
      l.set(id, Math.max(0, cur - bytes));
      this.publish(vm);
    }
    this.trimAnswered(vm, id);
  }

  /** The session reports the device memory it holds now. */
  setUsed(id: number, bytes: number): void {
    const vm = this.vmOf.get(id);
    if (vm === undefined) return;
    this.used.set(id, bytes);
    this.publish(vm);
  }

  /** A session ended: everything it held is free again for its VM. */
  drop(id: number): void {
    const vm = this.vmOf.get(id);
    if (vm === undefined) return;
    this.vmOf.delete(id);
    this.used.delete(id);
    this.reserved.get(vm)?.delete(id);
    this.publish(vm);
    this.trimAnswered(vm, id);
  }

  /** What the VM's sessions other than `except` have reserved beyond what they hold. */
  private vmSlack(vm: string, except: number): number {
    let slack = 0;
    for (const [id, reserved] of this.reserved.get(vm) ?? []) {
      if (id !== except) slack += Math.max(0, reserved - (this.used.get(id) ?? 0));
    }
    return slack;
  }

  /** Asks the VM's other sessions with slack to give it back; the request waits for them. */
  private trim(vm: string, id: number, bytes: number): void {
    const waiting = new Set<number>();
    for (const [other, reserved] of this.reserved.get(vm) ?? []) {
      if (other === id || reserved <= (this.used.get(other) ?? 0)) continue;
      if (this.deps.send(other, { type: 'trim' })) waiting.add(other);
    }
    this.trimming.set(vm, { waiting, queue: [{ id, bytes }] });
    if (waiting.size === 0) this.trimAnswered(vm, -1);
  }

  /** A session answered a trim (it released its slack, or it ended): once all have, the waiting
   * requests are decided on what the VM now holds. */
  private trimAnswered(vm: string, id: number): void {
    const t = this.trimming.get(vm);
    if (!t) return;
    t.waiting.delete(id);
    if (t.waiting.size > 0) return;
    this.trimming.delete(vm);
    // Several requests can wait on one trim. Slack granted to the first must not take the quota
    // the ones after it need: that refused a session of the soak's quota VM while its sessions
    // together held a third of the quota.
    const queue = t.queue.filter((q) => this.vmOf.has(q.id));
    let after = queue.reduce((sum, q) => sum + q.bytes, 0);
    for (const q of queue) {
      after -= q.bytes;
      this.reserve(q.id, q.bytes, false, after);
    }
  }

  /** Tells the VM's sessions how much of the quota is in use (what cuMemGetInfo reports). */
  publish(vm: string): void {
    const bytes = this.vmUsed(vm);
    for (const [id, v] of this.vmOf) if (v === vm) this.deps.send(id, { type: 'vmUsage', bytes, own: this.used.get(id) ?? 0 });
  }
}
