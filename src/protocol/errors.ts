// The VGPU_ERR_* catalogue of host-side failures that travel in ERROR and ATTACHED frames
// (docs/protocol.md, "Error model"). guest/common/impl mirrors the codes; a test keeps the doc,
// this table and the C header in step.

export const VgpuErr = {
  PROTOCOL: 1,
  VERSION: 2,
  AUTH: 3,
  ADMISSION: 4,
  INTERNAL: 5,
  SHUTDOWN: 6,
  KILLED: 7,
} as const;
export type VgpuErrCode = (typeof VgpuErr)[keyof typeof VgpuErr];

export const VGPU_ERR_NAMES: Readonly<Record<VgpuErrCode, string>> = {
  1: 'VGPU_ERR_PROTOCOL',
  2: 'VGPU_ERR_VERSION',
  3: 'VGPU_ERR_AUTH',
  4: 'VGPU_ERR_ADMISSION',
  5: 'VGPU_ERR_INTERNAL',
  6: 'VGPU_ERR_SHUTDOWN',
  7: 'VGPU_ERR_KILLED',
};

/** A peer broke the protocol: the connection is dropped with a log line naming the reason. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}
