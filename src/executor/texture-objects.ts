// The texture and surface objects of a session, by driver value, with what they were made from
// (the getters answer from it) and the context they live in: the driver destroys an object with
// its context, so the record goes then too, and the value is no longer the session's.

import { NO_CONTEXT } from './allocs.js';

export interface TextureObject {
  surface: boolean;
  /** The resource as the guest sent it (array as its id), returned by the getters. */
  res: Buffer;
  tex?: Buffer;
  view?: Buffer;
}

export class TextureObjectBook {
  private readonly byValue = new Map<number, { obj: TextureObject; ctx: number }>();

  add(value: number, obj: TextureObject, ctx: number): void {
    this.byValue.set(value, { obj, ctx });
  }

  get(value: number): TextureObject | undefined {
    return this.byValue.get(value)?.obj;
  }

  delete(value: number): void {
    this.byValue.delete(value);
  }

  /** Forgets the objects the driver destroyed with context `ctx`. */
  contextGone(ctx: number): void {
    if (ctx === NO_CONTEXT) return;
    for (const [value, e] of this.byValue) if (e.ctx === ctx) this.byValue.delete(value);
  }
}
