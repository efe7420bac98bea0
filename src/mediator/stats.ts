// What the mediator counts as it happens, for /metrics (docs/admin-api.md, Metrics): refused
// handshakes, admissions, quota reservations and how long executors take to start. prom-client
// metrics registered nowhere yet: the admin API's registry (src/admin/metrics.ts) takes them when
// the API is on, and without it they cost a few increments.

import { Counter, Histogram, type Metric } from 'prom-client';

/** Why a connection was refused before its WELCOME. */
export const HANDSHAKE_REFUSALS = ['version', 'protocol', 'timeout', 'shutdown', 'auth', 'admission'] as const;
export type HandshakeRefusal = (typeof HANDSHAKE_REFUSALS)[number];

/** Why a guest was admitted (what vouched for it) or refused (src/mediator/admission.ts; no_gpu:
 * its pool has no GPU with room, src/mediator/placement.ts). */
export const ADMITTED_BY = ['token', 'channel', 'default'] as const;
export const REFUSED_BECAUSE = ['no_token', 'unknown_token', 'channel_mismatch', 'client_cert', 'no_gpu'] as const;
export type AdmissionOutcome =
  | { result: 'admitted'; vm: string; reason: (typeof ADMITTED_BY)[number] }
  | { result: 'refused'; vm?: string; reason: (typeof REFUSED_BECAUSE)[number] };

/** Executor start-up: fork, Node, the driver loaded and initialised. Spans softgpu's tenths of a
 * second to a real driver's seconds. */
const SPAWN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export class MediatorStats {
  private readonly handshakes = new Counter({
    name: 'vgpu_handshakes_refused_total', registers: [], labelNames: ['reason'],
    help: 'Guest connections refused before the handshake completed, by why: version, protocol, timeout (no HELLO in time), shutdown (draining), auth (no VM for the token or channel), admission (no GPU with room)',
  });
  private readonly admissions = new Counter({
    name: 'vgpu_admissions_total', registers: [], labelNames: ['vm', 'result', 'reason'],
    help: 'Guests admitted (reason: token, channel, default) or refused (reason: no_token, unknown_token, channel_mismatch, client_cert, no_gpu) at the handshake',
  });
  private readonly reservations = new Counter({
    name: 'vgpu_quota_reservations_total', registers: [], labelNames: ['vm', 'result'],
    help: "Requests of a VM's sessions for more of its memory quota, granted or refused (quota reached)",
  });
  private readonly spawn = new Histogram({
    name: 'vgpu_executor_spawn_seconds', registers: [], buckets: SPAWN_BUCKETS, labelNames: ['form'],
    help: 'Time from starting an executor process until it is ready to serve (driver loaded and initialised), by form: forked by the zygote, or spawned as a process of its own',
  });

  constructor() {
    // Every reason present from the start, at 0, so rates and alerts have a series to work on.
    for (const reason of HANDSHAKE_REFUSALS) this.handshakes.inc({ reason }, 0);
  }

  handshakeRefused(reason: HandshakeRefusal): void {
    this.handshakes.inc({ reason });
  }

  admission(o: AdmissionOutcome): void {
    this.admissions.inc({ vm: o.vm ?? '', result: o.result, reason: o.reason });
  }

  quotaReservation(vm: string, granted: boolean): void {
    this.reservations.inc({ vm, result: granted ? 'granted' : 'refused' });
  }

  executorReady(seconds: number, form: 'forked' | 'spawned'): void {
    this.spawn.observe({ form }, seconds);
  }

  /** For the admin API's registry. */
  metrics(): Metric[] {
    return [this.handshakes, this.admissions, this.reservations, this.spawn];
  }
}
