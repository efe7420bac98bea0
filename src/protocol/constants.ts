// Wire protocol v1 constants (docs/protocol.md). The C side mirrors them in guest/common/impl/wire.h.

export const HEADER_SIZE = 16;
export const MAX_PAYLOAD = 16 * 1024 * 1024 + 64 * 1024;
export const MAX_STR = 4096;
export const HELLO_MAGIC = 0x55504756; // "VGPU"
export const PROTO_MAJOR = 1;
/** Minor 1: the WELCOME extension block. Minor 2: STATUS / STATUS_REPLY before ATTACH. Minor 3:
 * NOTIFY notices (kernel output, shutdown). Minor 4: shared memory for bulk copies (the vgShm ops).
 * Minor 5: LZ4-compressed CALL payloads on remote links (docs/protocol.md, "Compression"). */
export const PROTO_MINOR = 5;
/** The protocol minor that brought compression: older guests are never offered it. */
export const COMPRESS_MINOR = 5;
/** The protocol minor that brought NOTIFY's notices: older guests are sent none. */
export const NOTICE_MINOR = 3;
/** Host-to-device copies are split into pieces of at most this size. */
export const CHUNK = 4 * 1024 * 1024;

export const FrameType = {
  HELLO: 1,
  WELCOME: 2,
  CALL: 3,
  REPLY: 4,
  ERROR: 5,
  PING: 6,
  PONG: 7,
  NOTIFY: 8,
  ATTACH: 9,
  ATTACHED: 10,
  /** Guest -> host, before ATTACH, from protocol minor 2: asks for this VM's accounting (NVML). */
  STATUS: 11,
  STATUS_REPLY: 12,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** What a NOTIFY frame tells the guest, carried in its `op` (docs/protocol.md, "Notices"). */
export const Notice = {
  /** Payload: bytes for the guest program's standard output (its kernels' printf). */
  STDOUT: 1,
  /** Payload: bytes for its standard error (its kernels' failed asserts). */
  STDERR: 2,
  /** Payload: u32 grace time in ms, str message (the layout of ERROR's payload). */
  SHUTDOWN: 3,
} as const;

/** The `u64 ctx` of a CALL when the guest thread's current context is a primary context that is
 * not active (released or reset); 0 means no current context. */
export const CTX_INACTIVE_PRIMARY = 1;

export const Flag = {
  NOREPLY: 0x1,
  MORE: 0x2,
  /** CALL, from minor 5 where the WELCOME said HostFlag.LZ4: the payload is u32 size + an LZ4
   * block that decompresses to exactly `size` bytes, the CALL's real payload. */
  LZ4: 0x4,
} as const;

/** Flags each frame type may carry; anything else is a protocol error. */
export const ALLOWED_FLAGS: Readonly<Record<number, number>> = {
  [FrameType.HELLO]: 0,
  [FrameType.WELCOME]: 0,
  [FrameType.CALL]: Flag.NOREPLY | Flag.MORE | Flag.LZ4,
  [FrameType.REPLY]: Flag.MORE,
  [FrameType.ERROR]: 0,
  [FrameType.PING]: 0,
  [FrameType.PONG]: 0,
  [FrameType.NOTIFY]: 0,
  [FrameType.ATTACH]: 0,
  [FrameType.ATTACHED]: 0,
  [FrameType.STATUS]: 0,
  [FrameType.STATUS_REPLY]: 0,
};

/** Guest flags in HELLO. */
export const HelloFlag = {
  /** The guest can compress CALL payloads with LZ4 (it found liblz4). Bit 0 is reserved
   * (docs/protocol.md, Handshake). */
  LZ4: 0x2,
} as const;

/** Host flags in WELCOME. */
export const HostFlag = {
  SOFTGPU: 0x1,
  /** This connection takes LZ4-compressed CALLs (Flag.LZ4): offered on tcp: and tls: only. */
  LZ4: 0x2,
} as const;

/** Device attribute value meaning "the device does not report this attribute". */
export const ATTR_UNSUPPORTED = -0x80000000;
