// Everything the executor knows about its one session: the guest's handles and allocations, the
// device mapping, the deferred error, and scratch buffers for driver outputs. Generated handlers
// (gen/dispatch.ts) and hand-written ones (custom/) validate through it before calling the driver.

import type { DriverApi } from './gen/ffi.js';
import type { HandleKind } from '../protocol/handles.js';
import { AllocMap, NO_CONTEXT } from './allocs.js';
import { CoherentShadows } from './coherent-shadows.js';
import type { DeviceClock } from './device-time.js';
import type { NativeHotPath } from './hot-path.js';
import type { SessionImages } from './images.js';
import { HostNodeBook } from './host-nodes.js';
import { IpcBook } from './ipc.js';
import { ShmState } from './shm.js';
import { TextureObjectBook } from './texture-objects.js';
import { VmmBook } from './vmm.js';
import { CTX_INACTIVE_PRIMARY } from '../protocol/constants.js';
import {
  CudaError,
  CUDA_ERROR_CONTEXT_IS_DESTROYED,
  CUDA_ERROR_INVALID_CONTEXT,
  CUDA_ERROR_INVALID_DEVICE,
  CUDA_ERROR_INVALID_HANDLE,
  CUDA_ERROR_INVALID_VALUE,
  CUDA_ERROR_OUT_OF_MEMORY,
} from './cuda.js';

const TWO32 = 4294967296;
/** Remote ids start here; 0, 1 and 2 are NULL, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD. */
const FIRST_ID = 0x1000;

/** What the driver answers for a handle that names nothing: memory pools are checked as values
 * (their entry points document CUDA_ERROR_INVALID_VALUE only), and a NULL graph or graph exec is
 * a bad argument rather than a bad handle. */
function badHandle(kind: HandleKind, isNull: boolean): number {
  if (kind === 'context') return CUDA_ERROR_INVALID_CONTEXT;
  if (kind === 'mempool') return CUDA_ERROR_INVALID_VALUE;
  if (isNull && (kind === 'graph' || kind === 'graphexec' || kind === 'graphnode')) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_ERROR_INVALID_HANDLE;
}

function sharedKey(kind: HandleKind, real: number): string | undefined {
  // Arrays: a mipmapped array's level comes back as the same array each time it is asked for.
  return kind === 'mempool' || kind === 'function' || kind === 'kernel' || kind === 'graphnode' || kind === 'array'
    ? `${kind}:${real}` : undefined;
}

interface HandleEntry {
  kind: HandleKind;
  real: number;
  /** The id whose destruction also ends this one. */
  owner?: number;
}

/**
 * Thrown by an allocation that needs more of the VM's quota than this session holds: the serving
 * loop pauses the call, asks the mediator for `bytes` more, and replays it (or fails it with
 * CUDA_ERROR_OUT_OF_MEMORY when the VM has no room).
 */
export class NeedQuota extends Error {
  override readonly name = 'NeedQuota';
  constructor(readonly bytes: number) {
    super(`needs ${bytes} more bytes of the VM's quota`);
  }
}

export interface PendingStream {
  src: number;
  left: number;
  /** The first REPLY frame, room for its header and result included: the first piece was copied
   * straight into it (src/executor/custom/memory.ts). */
  first: Buffer;
  copy: (dst: Buffer, src: number, len: number) => number;
}

export interface SessionLimits {
  /** Bytes the session may hold on the device; undefined for no limit. */
  memoryQuota?: number | undefined;
}

export interface SessionOptions {
  /** The module images of the session's VM (src/executor/images.ts). */
  images?: SessionImages | undefined;
}

export class ExecContext {
  readonly allocs = new AllocMap();
  private readonly handles = new Map<number, HandleEntry>();
  private readonly ctxIds = new Map<number, number>();
  /** Physical device -> the id of its primary context, as retained through this session. */
  private readonly primaryIds = new Map<number, number>();
  /** One id per driver object that lookups name again (pools, functions, kernels), so the guest's
   * handles to it compare equal, as the driver's do, and the table does not grow with each lookup. */
  private readonly sharedIds = new Map<string, number>();
  /** Functions and kernels by the module, library or kernel they were looked up in: they go with it. */
  private readonly children = new Map<number, number[]>();
  /** Physical devices whose primary context this session holds a driver retain on (one at most). */
  readonly primaryRetained = new Set<number>();
  private nextId = FIRST_ID;
  private currentCtxId = -1;
  private deferred = 0;
  /** Streams capturing (context:stream:ptsz). While any is, the native hot path stands aside: a
   * capture's rules depend on the capture mode of the thread making calls (cuda.h,
   * cuThreadExchangeStreamCaptureMode), and the guest's mode is this thread's. */
  private readonly capturing = new Set<string>();
  private readonly outs: Buffer[] = [];
  peakMemory = 0;
  /** Set by a device-to-host copy larger than one frame; the serving loop sends the rest. */
  pendingStream: PendingStream | undefined;

  /** Module-scope variables handed out per module or library id, dropped with it. */
  private readonly globals = new Map<number, number[]>();
  /** Device memory the driver took when loading each module or library (its globals, constant
   * banks and code) or making a CUDA array, by handle id, and the context it lives in (NO_CONTEXT
   * for a library, which outlives contexts). Counted toward the quota until it is unloaded or
   * destroyed or its context goes. */
  private readonly loads = new Map<number, { bytes: number; ctx: number }>();
  private loadedBytes = 0;
  /** Bytes of the session's physical allocations (cuMemCreate) the driver still holds. */
  private physicalBytes = 0;
  /** The session's virtual memory objects (src/executor/vmm.ts). */
  readonly vmm = new VmmBook();
  /** The guest's functions of the session's host nodes (src/executor/host-nodes.ts). */
  readonly hostNodes = new HostNodeBook();
  /** The session's texture and surface objects (src/executor/texture-objects.ts). */
  readonly textureObjects = new TextureObjectBook();
  /** The session's CUDA IPC (src/executor/ipc.ts). */
  readonly ipc = new IpcBook();
  /** Shared memory with the guest for bulk copies (src/executor/shm.ts). */
  readonly shm = new ShmState();
  /** What the guest last saw of its coherent memory (src/executor/coherent-shadows.ts). */
  readonly coherentShadows = new CoherentShadows();
  /** An image being uploaded in pieces (vgImagePut). */
  upload: { hash: string; buf: Buffer; got: number } | undefined;
  /** Device bytes this session may hold: its share of the VM's quota, granted by the mediator
   * (Infinity when the VM has no quota). */
  reservation: number;
  /** The mediator refused the last reservation: the replayed allocation fails. */
  private quotaDenied = false;
  /** VM-wide use of the quota, as the mediator last reported it (for cuMemGetInfo). */
  vmUsed = 0;
  /** This session's part of vmUsed as the mediator counted it: the rest is the VM's other
   * sessions', so cuMemGetInfo can add this session's current use without waiting for the
   * mediator to catch up with a free. */
  vmUsedOwn = 0;
  /** Times device work with events (real GPU); undefined where calls run to completion. */
  clock: DeviceClock | undefined;
  /** The native hot path serving some of this session's calls (src/executor/hot-path.ts): it
   * mirrors the handle table and holds the deferred error, which both paths share. */
  native: NativeHotPath | undefined;
  /** Hands unused reservation back to the mediator. */
  releaseQuota: (bytes: number) => void = () => {};
  /** Tells the mediator how much this session really holds (what the VM's cuMemGetInfo shows). */
  reportUse: (bytes: number) => void = () => {};

  constructor(
    readonly d: DriverApi,
    /** vGPU ordinal -> physical device ordinal. */
    readonly deviceMap: readonly number[],
    readonly limits: SessionLimits = {},
    readonly options: SessionOptions = {},
  ) {
    this.reservation = limits.memoryQuota === undefined ? Infinity : 0;
  }

  get memoryQuota(): number | undefined {
    return this.limits.memoryQuota;
  }

  grantQuota(bytes: number): void {
    this.reservation += bytes;
  }

  denyQuota(): void {
    this.quotaDenied = true;
  }

  /** Scratch buffer for the i-th output of a call (16 bytes, reused across calls): zeroed, so an
   * output the driver leaves alone never carries an earlier call's value back to the guest. */
  out(i: number): Buffer {
    let b = this.outs[i];
    if (!b) {
      b = Buffer.alloc(16);
      this.outs[i] = b;
    } else {
      b.fill(0);
    }
    return b;
  }

  readU64(b: Buffer): number {
    return b.readUInt32LE(0) + b.readUInt32LE(4) * TWO32;
  }

  writeOut(b: Buffer, kind: string, v: number): void {
    if (kind === 'f32') b.writeFloatLE(v, 0);
    else if (kind === 'i32') b.writeInt32LE(v, 0);
    else if (kind === 'u32') b.writeUInt32LE(v >>> 0, 0);
    else {
      b.writeUInt32LE(v % TWO32 >>> 0, 0);
      b.writeUInt32LE(Math.floor(v / TWO32) >>> 0, 4);
    }
  }

  device(ordinal: number): number {
    const p = this.deviceMap[ordinal];
    if (p === undefined) throw new CudaError(CUDA_ERROR_INVALID_DEVICE, `device ${ordinal} is not one of this session's ${this.deviceMap.length}`);
    return p;
  }

  // ---- handles -------------------------------------------------------------------------------

  handle(id: number, kind: HandleKind, nullable: boolean): number {
    if (kind === 'stream' && id <= 2) return id; // NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD
    if (id === 0) {
      if (nullable) return 0;
      throw new CudaError(badHandle(kind, true), `NULL ${kind}`);
    }
    const e = this.handles.get(id);
    // A CUkernel may be passed wherever a CUfunction is expected (cuda.h); cudart does so.
    if (!e || (e.kind !== kind && !(kind === 'function' && e.kind === 'kernel'))) {
      throw new CudaError(badHandle(kind, false), `0x${id.toString(16)} is not a ${kind} of this session`);
    }
    return e.real;
  }

  /** A new id for a driver handle; `owner` is the id whose destruction also ends this one. */
  newHandle(kind: HandleKind, real: number, owner?: number): number {
    const shared = sharedKey(kind, real);
    if (shared !== undefined) {
      const known = this.sharedIds.get(shared);
      if (known !== undefined) return known;
    }
    const id = this.nextId++;
    this.handles.set(id, owner === undefined ? { kind, real } : { kind, real, owner });
    this.native?.handleAdded(id, kind, real);
    if (shared !== undefined) this.sharedIds.set(shared, id);
    if (owner !== undefined) {
      const list = this.children.get(owner) ?? [];
      list.push(id);
      this.children.set(owner, list);
    }
    return id;
  }

  /** The id of graph node `real` (0 for none) of graph `graph`: one id per node, dropped with the graph. */
  nodeId(real: number, graph: number): number {
    return real === 0 ? 0 : this.newHandle('graphnode', real, graph);
  }

  /** The id that owns `id` (a node's graph), 0 if none. */
  ownerOf(id: number): number {
    return this.handles.get(id)?.owner ?? 0;
  }

  /** The id this session already has for driver handle `real` of a shared kind (function, kernel,
   * memory pool, graph node), if any. */
  knownId(kind: HandleKind, real: number): number | undefined {
    const key = sharedKey(kind, real);
    return key === undefined ? undefined : this.sharedIds.get(key);
  }

  /** The id this session has for driver handle `real` of `kind`, if any (a linear search: for
   * the rare queries that hand back an object the guest made, such as an event node's event). */
  idOf(kind: HandleKind, real: number): number | undefined {
    if (real === 0) return undefined;
    for (const [id, e] of this.handles) if (e.kind === kind && e.real === real) return id;
    return undefined;
  }

  /** The id of a context handle, reusing the id the same driver context already has (primary). */
  contextId(real: number): number {
    const known = this.ctxIds.get(real);
    if (known !== undefined && this.handles.has(known)) return known;
    const id = this.newHandle('context', real);
    this.ctxIds.set(real, id);
    return id;
  }

  /** The id of `physical`'s primary context, recorded so that its reset can be accounted. */
  primaryContextId(physical: number, real: number): number {
    const id = this.contextId(real);
    this.primaryIds.set(physical, id);
    return id;
  }

  /** The context current for the call being served (what a new allocation or module belongs to). */
  get currentContext(): number {
    // Neither no context (0), an inactive primary (CTX_INACTIVE_PRIMARY) nor not yet known (-1).
    return this.currentCtxId >= FIRST_ID ? this.currentCtxId : NO_CONTEXT;
  }

  dropHandle(id: number): void {
    const e = this.handles.get(id);
    if (e?.kind === 'context') this.ctxIds.delete(e.real);
    const shared = e && sharedKey(e.kind, e.real);
    if (shared !== undefined) this.sharedIds.delete(shared);
    const kids = this.children.get(id);
    if (kids) {
      this.children.delete(id);
      for (const k of kids) this.dropHandle(k);
    }
    const g = this.globals.get(id);
    if (g) {
      for (const p of g) this.allocs.removeFixed(p);
      this.globals.delete(id);
    }
    const load = this.loads.get(id);
    if (load) {
      this.loads.delete(id);
      this.loadedBytes -= load.bytes;
      this.memoryReleased();
    }
    if (this.handles.delete(id)) this.native?.handleRemoved(id);
    if (id === this.currentCtxId) this.currentCtxId = -1;
  }

  get handleCount(): number {
    return this.handles.size;
  }

  /** Makes the guest thread's current context current for the driver call that follows. */
  setCurrentCtx(id: number): void {
    if (id === this.currentCtxId) return;
    const real = id === 0 || id === CTX_INACTIVE_PRIMARY ? 0 : this.handle(id, 'context', false);
    const res = this.d.cuCtxSetCurrent(real);
    if (res !== 0) throw new CudaError(res, 'cuCtxSetCurrent failed');
    this.currentCtxId = id;
  }

  /**
   * What a call that needs a current context returns when it finds none: the driver's answer for
   * a thread whose current context is a primary context that is not active is
   * CUDA_ERROR_CONTEXT_IS_DESTROYED (cuda.h), which the executor, running the call with no
   * context current, must give in its place.
   */
  noContextResult(res: number): number {
    return res === CUDA_ERROR_INVALID_CONTEXT && this.currentCtxId === CTX_INACTIVE_PRIMARY ? CUDA_ERROR_CONTEXT_IS_DESTROYED : res;
  }

  /** Forgets which context is current (after a call that may have changed it on the driver). */
  invalidateCurrent(): void {
    this.currentCtxId = -1;
  }

  /** What kind of object a live id names, if any. */
  kindOf(id: number): HandleKind | undefined {
    return this.handles.get(id)?.kind;
  }

  // ---- device time (src/executor/device-time.ts) ------------------------------------------------

  /** The call about to be made puts work on `stream` (a host handle) of the current context. */
  work(stream: number, ptsz: boolean): void {
    this.clock?.work(this.currentCtxId, stream, ptsz);
  }

  streamEnding(stream: number, ptsz: boolean): void {
    this.clock?.streamEnding(this.currentCtxId, stream, ptsz);
  }

  captureBegins(): void {
    this.clock?.captureBegins();
  }

  captureBegan(stream: number, ptsz: boolean): void {
    this.clock?.captureBegan(this.currentCtxId, stream, ptsz);
    this.capturing.add(`${this.currentCtxId}:${stream}:${ptsz}`);
    this.native?.setCapturing(true);
  }

  captureEnds(stream: number, ptsz: boolean): void {
    this.clock?.captureEnds(this.currentCtxId, stream, ptsz);
    this.capturing.delete(`${this.currentCtxId}:${stream}:${ptsz}`);
    this.native?.setCapturing(this.capturing.size > 0);
  }

  /** A context is about to be destroyed (its events with it): what was measured is counted. */
  contextEnding(): void {
    this.clock?.finish();
  }

  /** For the clock: makes a context current again, false if it is gone. */
  makeCurrent(ctxId: number): boolean {
    try {
      this.setCurrentCtx(ctxId);
      return true;
    } catch {
      return false;
    }
  }

  // ---- memory --------------------------------------------------------------------------------

  /** Device bytes this session holds against its VM's quota: its allocations, its physical
   * allocations (mapped or not) and what the driver took for its modules and libraries. */
  get held(): number {
    return this.allocs.total + this.loadedBytes + this.physicalBytes;
  }

  /** The device's free memory as the driver reports it, or undefined if it cannot say. */
  private deviceFree(): number | undefined {
    const f = this.out(14);
    const t = this.out(15);
    return this.d.cuMemGetInfo_v2(f, t) === 0 ? this.readU64(f) : undefined;
  }

  /**
   * Loads a module or library and charges the device memory the load took to the quota. How much
   * an image needs (its globals and constant banks, the code) is only known to the driver, so it
   * is measured: the device's free memory before and after. Calls of a GPU are serialised by the
   * scheduler's time slices, so the difference is this load's (a drop elsewhere only overcharges).
   * When the quota has no room the image is unloaded again and, like an allocation, the call waits
   * for more quota and is replayed (NeedQuota) or fails with CUDA_ERROR_OUT_OF_MEMORY. Returns the
   * new handle's id, or the driver's result when the load failed.
   */
  loadImage(kind: 'module' | 'library', load: (out: Buffer) => number, unload: (real: number) => number): { id: number } | { res: number } {
    // A library needs no current context, but measuring does.
    if (kind === 'library' && this.currentContext === NO_CONTEXT) return this.inPrimary(() => this.measuredLoad(kind, load, unload));
    return this.measuredLoad(kind, load, unload);
  }

  /**
   * Runs `f` with the primary context of the session's first device current, retained for the
   * while (when that fails, as it is). On a GPU a library loaded meanwhile is loaded into that
   * context too, and its memory freed with it if the guest has not retained it: what is measured
   * then overcharges, never undercharges.
   */
  private inPrimary<T>(f: () => T): T {
    const dev = this.deviceMap[0];
    const o = this.out(13);
    if (dev === undefined || this.d.cuDevicePrimaryCtxRetain(o, dev) !== 0) return f();
    const pushed = this.d.cuCtxPushCurrent_v2(this.readU64(o)) === 0;
    try {
      return f();
    } finally {
      if (pushed) this.d.cuCtxPopCurrent_v2(o);
      this.d.cuDevicePrimaryCtxRelease_v2(dev);
    }
  }

  private measuredLoad(kind: 'module' | 'library', load: (out: Buffer) => number, unload: (real: number) => number): { id: number } | { res: number } {
    const before = this.deviceFree();
    const o = this.out(0);
    const res = load(o);
    if (res !== 0) return { res };
    const real = this.readU64(o);
    const after = before === undefined ? undefined : this.deviceFree();
    const bytes = before === undefined || after === undefined ? 0 : Math.max(0, before - after);
    try {
      this.beforeAlloc(bytes);
    } catch (e) {
      unload(real);
      if (e instanceof CudaError) this.allocFailed(bytes);
      throw e;
    }
    const id = this.newHandle(kind, real);
    this.loads.set(id, { bytes, ctx: kind === 'module' ? this.currentContext : NO_CONTEXT });
    this.loadedBytes += bytes;
    this.memoryTaken();
    return { id };
  }

  /**
   * Registers a new handle whose object holds `bytes` of device memory (a CUDA array), already
   * reserved with beforeAlloc: they count toward the quota until the handle is dropped or its
   * context goes, as a module's do.
   */
  chargedHandle(kind: HandleKind, real: number, bytes: number): number {
    const id = this.newHandle(kind, real);
    this.loads.set(id, { bytes, ctx: this.currentContext });
    this.loadedBytes += bytes;
    this.memoryTaken();
    return id;
  }

  /** Makes a module variable addressable by the session until its module or library goes. */
  addGlobal(ownerId: number, p: number, n: number): void {
    this.allocs.addFixed(p, n);
    const list = this.globals.get(ownerId) ?? [];
    list.push(p);
    this.globals.set(ownerId, list);
  }

  /** Device addresses mean something only in a context: without one the driver says so first. */
  checkRange(p: number, n: number): void {
    if (this.currentCtxId === 0 || this.currentCtxId === CTX_INACTIVE_PRIMARY) {
      throw new CudaError(CUDA_ERROR_INVALID_CONTEXT, 'no current context');
    }
    this.allocs.check(p, n);
  }

  checkAllocBase(p: number): void {
    if (this.allocs.sizeAt(p) === undefined) {
      throw new CudaError(1 /* INVALID_VALUE */, `0x${p.toString(16)} is not the start of an allocation of this session`);
    }
  }

  beforeAlloc(n: number): void {
    const q = this.limits.memoryQuota;
    if (q === undefined) return;
    if (this.quotaDenied || this.held + n > q) {
      this.quotaDenied = false;
      throw new CudaError(CUDA_ERROR_OUT_OF_MEMORY, `allocation of ${n} bytes exceeds the VM's memory quota of ${q}`);
    }
    const need = this.held + n - this.reservation;
    if (need > 0) throw new NeedQuota(need);
  }

  /** An allocation failed after quota was reserved for it: what is not held goes back. */
  allocFailed(_n: number): void {
    this.releaseSurplus();
  }

  /** `owner` 'pool': a stream-ordered allocation, which its memory pool owns and no context's
   * destruction frees (the driver keeps it, and so does the quota, until it is freed). */
  afterAlloc(p: number, n: number, owner: 'context' | 'pool' = 'context'): void {
    this.allocs.add(p, n, owner === 'pool' ? NO_CONTEXT : this.currentContext);
    this.memoryTaken();
  }

  /** A physical allocation (cuMemCreate) was made: it counts until the driver frees it. */
  physicalTaken(n: number): void {
    this.physicalBytes += n;
    this.memoryTaken();
  }

  /** A physical allocation was freed (released and no longer mapped). */
  physicalFreed(n: number): void {
    this.physicalBytes -= n;
    this.memoryReleased();
  }

  afterFree(p: number): void {
    this.allocs.remove(p);
    this.ipc.freed((b) => b !== p);
    this.memoryReleased();
  }

  /**
   * The driver destroyed a context (cuCtxDestroy, cuDevicePrimaryCtxReset, the last primary
   * release) and with it what lived in it: its allocations (not stream-ordered ones), its
   * modules with their globals, its arrays and mipmapped arrays (with their levels) and its texture
   * and surface objects. Their bytes go back to the VM's quota.
   */
  contextGone(ctxId: number): void {
    if (ctxId === NO_CONTEXT) return;
    this.textureObjects.contextGone(ctxId);
    for (const [id, load] of this.loads) if (load.ctx === ctxId) this.dropHandle(id);
    // The driver unmaps the memory opened by IPC in it too.
    for (const p of this.ipc.contextGone(ctxId)) this.allocs.removeFixed(p);
    if (this.allocs.removeOwnedBy(ctxId) > 0) {
      this.ipc.freed((b) => this.allocs.sizeAt(b) !== undefined);
      this.memoryReleased();
    }
  }

  /** `physical`'s primary context was destroyed (reset, or released for the last time). */
  primaryGone(physical: number): void {
    const id = this.primaryIds.get(physical);
    if (id !== undefined) this.contextGone(id);
  }

  private memoryTaken(): void {
    if (this.held > this.peakMemory) this.peakMemory = this.held;
    if (this.reservation !== Infinity) this.reportUse(this.held);
  }

  private memoryReleased(): void {
    this.releaseSurplus();
    if (this.reservation !== Infinity) this.reportUse(this.held);
  }

  /** Reserved but not held (none without a quota). */
  private get surplus(): number {
    return this.reservation === Infinity ? 0 : Math.max(0, this.reservation - this.held);
  }

  /** Hands back what is reserved but not held, so the VM's other sessions can use it. */
  private releaseSurplus(): void {
    if (this.surplus > 0) this.trimReservation();
  }

  /** Gives the surplus back. Also the answer to the mediator wanting the VM's unused reservations
   * back (another session waits for quota): sent even when there is none, so the mediator knows. */
  trimReservation(): void {
    const surplus = this.surplus;
    this.reservation -= surplus;
    this.releaseQuota(surplus);
  }

  // ---- deferred errors -----------------------------------------------------------------------

  defer(res: number): void {
    if (this.native) this.native.defer(res);
    else if (this.deferred === 0) this.deferred = res;
  }

  takeDeferred(): number {
    if (this.native) return this.native.takeDeferred();
    const d = this.deferred;
    this.deferred = 0;
    return d;
  }
}
