// Frames waiting to be served, in arrival order. A long batch of fire-and-forget calls can leave
// thousands queued at a turn boundary, so removal from the front must be O(1) (Array.shift is
// O(n) and made draining quadratic).

import type { Frame } from '../protocol/frame.js';

export class FrameQueue {
  private items: Frame[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): Frame | undefined {
    return this.items[this.head];
  }

  push(f: Frame): void {
    this.items.push(f);
  }

  /** Puts a frame back at the front (a call that must be replayed first). */
  unshift(f: Frame): void {
    if (this.head > 0) this.items[--this.head] = f;
    else this.items.unshift(f);
  }

  shift(): Frame | undefined {
    if (this.head >= this.items.length) return undefined;
    const f = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Frame; // let the payload go
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return f;
  }
}
