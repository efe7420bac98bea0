// HELLO, WELCOME, ERROR and ATTACHED payloads (docs/protocol.md, Handshake).

import { ATTR_UNSUPPORTED, FrameType, HELLO_MAGIC, PROTO_MAJOR, PROTO_MINOR } from './constants.js';
import { ProtocolError } from './errors.js';
import { decodeExtBlock, encodeExtBlock, type ExtEntry } from './ext.js';
import { encodeFrame } from './frame.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

export interface Hello {
  major: number;
  minor: number;
  flags: number;
  pid: number;
  token: string;
  hostname: string;
  program: string;
}

export interface DeviceRecord {
  name: string;
  uuid: Buffer; // 16 bytes
  totalMem: number;
  pciDomain: number;
  pciBus: number;
  pciDevice: number;
  /** Indexed by CUdevice_attribute; ATTR_UNSUPPORTED where the device does not report one. */
  attributes: number[];
}

/** WELCOME extension tags (docs/protocol.md, "WELCOME extensions"). */
export const WelcomeExtTag = {
  /** The NVIDIA driver version string NVML reports (`nvmlSystemGetDriverVersion`). */
  DRIVER_VERSION: 1,
} as const;
/** NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE (80) less the terminating NUL. */
export const MAX_DRIVER_STRING = 79;

/** The extension block that follows the device records from protocol minor 1 on. */
export interface WelcomeExt {
  driverVersionString?: string;
  /** Entries with tags this codec does not know: kept by the decoder, written back by the encoder. */
  unknown?: ExtEntry[];
}

export interface Welcome {
  major: number;
  minor: number;
  hostFlags: number;
  sessionId: number;
  driverVersion: number;
  vmName: string;
  devices: DeviceRecord[];
  /** The extension block, present on the wire exactly when `minor` >= 1 (the encoder writes an
   * empty block if this is absent; a minor-0 WELCOME must not carry one). */
  ext?: WelcomeExt;
}

const MAX_DEVICES = 64;
const MAX_ATTRS = 4096;

export function encodeHello(h: Hello): Buffer {
  const w = new Writer();
  w.u32(HELLO_MAGIC);
  w.u16(h.major);
  w.u16(h.minor);
  w.u32(h.flags);
  w.u32(h.pid);
  w.str(h.token);
  w.str(h.hostname);
  w.str(h.program);
  return w.take();
}

export function decodeHello(payload: Buffer): Hello {
  const r = new Reader(payload);
  const magic = r.u32();
  if (magic !== HELLO_MAGIC) throw new ProtocolError(`bad HELLO magic 0x${magic.toString(16)}`);
  const h: Hello = {
    major: r.u16(),
    minor: r.u16(),
    flags: r.u32(),
    pid: r.u32(),
    token: r.str(),
    hostname: r.str(),
    program: r.str(),
  };
  r.end();
  return h;
}

export function encodeWelcome(wl: Welcome): Buffer {
  const w = new Writer(4096);
  w.u16(wl.major);
  w.u16(wl.minor);
  w.u32(wl.hostFlags);
  w.u64(wl.sessionId);
  w.u32(wl.driverVersion);
  w.str(wl.vmName);
  w.u32(wl.devices.length);
  for (const d of wl.devices) {
    w.str(d.name);
    if (d.uuid.length !== 16) throw new RangeError('device uuid must be 16 bytes');
    w.raw(d.uuid);
    w.u64(d.totalMem);
    w.u32(d.pciDomain);
    w.u32(d.pciBus);
    w.u32(d.pciDevice);
    w.u32(d.attributes.length);
    for (const a of d.attributes) w.i32(a);
  }
  if (wl.minor >= 1) encodeExt(w, wl.ext ?? {});
  else if (wl.ext) throw new RangeError('a minor-0 WELCOME carries no extension block');
  return w.take();
}

function encodeExt(w: Writer, ext: WelcomeExt): void {
  const entries: ExtEntry[] = [];
  if (ext.driverVersionString !== undefined) {
    const b = Buffer.from(ext.driverVersionString, 'utf8');
    if (b.length > MAX_DRIVER_STRING || b.includes(0)) throw new RangeError('the driver version string is at most 79 bytes, without NUL');
    entries.push({ tag: WelcomeExtTag.DRIVER_VERSION, data: b });
  }
  encodeExtBlock(w, [...entries, ...(ext.unknown ?? [])], 'WELCOME');
}

/** Reads the extension block; unknown tags are kept aside, never an error. */
function decodeExt(r: Reader): WelcomeExt {
  const ext: WelcomeExt = {};
  for (const e of decodeExtBlock(r, 'WELCOME')) {
    if (e.tag === WelcomeExtTag.DRIVER_VERSION) {
      if (e.data.length > MAX_DRIVER_STRING || e.data.includes(0)) throw new ProtocolError('malformed driver version extension');
      ext.driverVersionString = e.data.toString('utf8');
    } else {
      (ext.unknown ??= []).push(e);
    }
  }
  return ext;
}

export function decodeWelcome(payload: Buffer): Welcome {
  const r = new Reader(payload);
  const wl: Welcome = {
    major: r.u16(),
    minor: r.u16(),
    hostFlags: r.u32(),
    sessionId: r.u64(),
    driverVersion: r.u32(),
    vmName: r.str(),
    devices: [],
  };
  const count = r.u32();
  if (count > MAX_DEVICES) throw new ProtocolError(`device count ${count} exceeds ${MAX_DEVICES}`);
  for (let i = 0; i < count; i++) {
    const name = r.str();
    const uuid = Buffer.from(r.raw(16));
    const totalMem = r.u64();
    const pciDomain = r.u32();
    const pciBus = r.u32();
    const pciDevice = r.u32();
    const n = r.u32();
    if (n > MAX_ATTRS) throw new ProtocolError(`attribute count ${n} exceeds ${MAX_ATTRS}`);
    const attributes: number[] = [];
    for (let j = 0; j < n; j++) attributes.push(r.i32());
    wl.devices.push({ name, uuid, totalMem, pciDomain, pciBus, pciDevice, attributes });
  }
  // A minor-0 WELCOME stops after the devices; from minor 1 on the extension block follows.
  if (wl.minor >= 1) wl.ext = decodeExt(r);
  r.end();
  return wl;
}

export function encodeStatus(code: number, message: string): Buffer {
  const w = new Writer();
  w.u32(code);
  w.str(message.length > 1000 ? `${message.slice(0, 997)}...` : message);
  return w.take();
}

/** The ERROR frame that ends a connection, telling the guest why (docs/protocol.md, Error model). */
export function errorFrame(code: number, message: string): Buffer {
  return encodeFrame(FrameType.ERROR, 0, 0, code, encodeStatus(code, message));
}

export function decodeStatus(payload: Buffer): { code: number; message: string } {
  const r = new Reader(payload);
  const out = { code: r.u32(), message: r.str() };
  r.end();
  return out;
}

export const HELLO_DEFAULTS = { major: PROTO_MAJOR, minor: PROTO_MINOR } as const;
export { ATTR_UNSUPPORTED };
