// The GPUs' recent readings for the dashboard's charts (GET /v1/gpus/history): a sample every few
// seconds in a ring of fixed size, so a page opened now shows the last minutes at once and the
// mediator's memory stays bounded however long it runs.

import type { GpuSample, LiveGpu } from '../admin/schemas.js';

export const HISTORY_EVERY_MS = 2000;
/** 15 minutes of samples. */
export const HISTORY_SAMPLES = 450;

export class GpuHistory {
  private readonly ring: GpuSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly read: () => LiveGpu[], private readonly capacity = HISTORY_SAMPLES) {}

  /** Takes a sample now, dropping the oldest when full. */
  sample(at: Date = new Date()): void {
    const gpus = this.read().map((g) => ({ uuid: g.uuid, memoryUsed: g.memoryUsed, utilization: g.utilization, temperatureC: g.temperatureC, powerW: g.powerW }));
    this.ring.push({ at: at.toISOString(), gpus });
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
  }

  start(everyMs = HISTORY_EVERY_MS): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  list(): GpuSample[] {
    return [...this.ring];
  }
}
