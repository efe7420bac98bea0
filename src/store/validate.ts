// Validation of everything that enters the store. Callers (CLI, HTTP API, mediator) may hand in
// anything; here it becomes typed, normalised values or a VgpuError naming the field and the fix.

import { posix } from 'node:path';
import { z } from 'zod';
import { durationMs } from '../common/duration.js';
import { VgpuError } from '../common/errors.js';
import { parseSize } from '../common/size.js';

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const PRIORITIES = ['high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 10000;
export const WEIGHT_DEFAULT = 100;
/** What `vm add` gives a VM for the fields it is not told (the store applies them; the CLI's help
 * shows them). */
export const VM_ADD_DEFAULTS = { priority: 'medium', weight: WEIGHT_DEFAULT, vgpus: 1 } as const;
export const VGPUS_MAX = 16;
export const NOTES_MAX = 1024;
// Below this a quota cannot hold a CUDA context; it is almost certainly a unit mistake ("2" for "2G").
export const MEMORY_QUOTA_MIN = 1024 * 1024;
// A hold limit below the scheduler's quantum (20 ms) would end sessions for the length of an
// ordinary call; above a day it is no limit at all.
export const MAX_HOLD_MIN_MS = 20;
export const MAX_HOLD_MAX_MS = 86_400_000;

// PCI bus id as NVML and sysfs write it: [domain:]bus:device.function, domain 4 or 8 hex digits.
const PCI_RE = /^(?:([0-9a-f]{4}|[0-9a-f]{8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

const nameSchema = z.string().regex(NAME_RE);
const prioritySchema = z.enum(PRIORITIES);
const weightSchema = z
  .number({ error: `must be a whole number from ${WEIGHT_MIN} to ${WEIGHT_MAX}` })
  .int(`must be a whole number from ${WEIGHT_MIN} to ${WEIGHT_MAX}`)
  .min(WEIGHT_MIN, `must be at least ${WEIGHT_MIN}`)
  .max(WEIGHT_MAX, `must be at most ${WEIGHT_MAX}`);
const vgpusSchema = z
  .number({ error: `must be a whole number from 1 to ${VGPUS_MAX}` })
  .int(`must be a whole number from 1 to ${VGPUS_MAX}`)
  .min(1, 'must be at least 1')
  .max(VGPUS_MAX, `must be at most ${VGPUS_MAX}`);
const pciSchema = z.string({ error: 'must be a string' }).regex(PCI_RE, 'must look like 0000:65:00.0 (domain:bus:device.function, hex)');
const notesSchema = z.string({ error: 'must be a string' }).max(NOTES_MAX, `must be at most ${NOTES_MAX} characters`);
// Guest CIDs: 0 (hypervisor), 1 (loopback) and 2 (host) are never a guest's; 0xFFFFFFFF is
// VMADDR_CID_ANY.
export const VSOCK_CID_MIN = 3;
export const VSOCK_CID_MAX = 0xfffffffe;
const vsockCidSchema = z
  .number({ error: `must be a whole number from ${VSOCK_CID_MIN} to ${VSOCK_CID_MAX}` })
  .int(`must be a whole number from ${VSOCK_CID_MIN} to ${VSOCK_CID_MAX}`)
  .min(VSOCK_CID_MIN, `must be at least ${VSOCK_CID_MIN} (0, 1 and 2 are not guest CIDs)`)
  .max(VSOCK_CID_MAX, `must be at most ${VSOCK_CID_MAX}`);
/** Room left in a Unix socket path (107 bytes) for the "_PORT" the hybrid convention appends. */
export const VSOCK_PATH_MAX = 96;
const vsockPathSchema = z
  .string({ error: 'must be a string' })
  .max(VSOCK_PATH_MAX, `must be at most ${VSOCK_PATH_MAX} characters (a Unix socket path with "_PORT" appended)`)
  .regex(/^\/[^\0]*[^/\0]$/, 'must be an absolute path to a socket, not a folder (e.g. /run/vgpu/vm1.vsock)');
// The SHA-256 of a certificate as people copy it: bare hex, or openssl's "AA:BB:..." form, with or
// without the "sha256:" that guests' pins carry.
const CERT_SHA256_RE = /^(?:sha256:)?(?:[0-9a-f]{2}:?){31}[0-9a-f]{2}$/i;
const certSha256Schema = z
  .string({ error: 'must be a string' })
  .regex(CERT_SHA256_RE, "must be a certificate's SHA-256: 64 hex digits, optionally with colons or a sha256: prefix "
    + '(openssl x509 -noout -fingerprint -sha256 -in guest.pem)');
const shmPathSchema = z
  .string({ error: 'must be a string' })
  .max(4096, 'must be at most 4096 characters')
  .regex(/^\/[^\0]*[^/\0]$/, "must be an absolute path to a file, not a folder (e.g. /dev/shm/vgpu-vm1), the VM's ivshmem memory-backend-file");
const sizeInput = z.union([z.number(), z.string()], { error: 'must be a size in bytes or a string like 2G' });
const holdInput = z.union([z.number(), z.string()], { error: 'must be milliseconds, a duration like 5s, or off' });

export const addVmSchema = z.strictObject({
  name: nameSchema,
  priority: prioritySchema.optional(),
  pool: nameSchema.optional(),
  memoryQuota: sizeInput.nullable().optional(),
  weight: weightSchema.optional(),
  vgpus: vgpusSchema.optional(),
  pciBusId: pciSchema.nullable().optional(),
  notes: notesSchema.optional(),
  maxHoldMs: holdInput.nullable().optional()
    .describe('how long one call may hold the GPU while others wait: ms, or a duration like "5s"; 0 or "off" for no limit; null for the mediator\'s default'),
  vsockCid: vsockCidSchema.nullable().optional()
    .describe('guest CID whose AF_VSOCK connections (vsock: listeners) are this VM\'s, without a token; null for none'),
  vsockPath: vsockPathSchema.nullable().optional()
    .describe('hybrid vsock socket path (the PATH of a vsock-uds: listener) whose connections are this VM\'s, without a token; null for none'),
  tlsClientCertSha256: certSha256Schema.nullable().optional()
    .describe('SHA-256 of the TLS client certificate whose connections (tls: listeners with --tls-client-ca) are this VM\'s, without a token; null for none'),
  shmPath: shmPathSchema.nullable().optional()
    .describe("host file behind the VM's ivshmem region (QEMU memory-backend-file mem-path), which its sessions' executors map for bulk copies; null for none"),
});
export type AddVmInput = z.input<typeof addVmSchema>;

export const vmPatchSchema = addVmSchema.omit({ name: true });
export type VmPatch = z.input<typeof vmPatchSchema>;

export const addPoolSchema = z.strictObject({
  name: nameSchema,
  gpuUuids: z.array(z.string().regex(/^GPU-[0-9a-f-]{36}$/i, 'must look like GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx')).max(64).optional(),
});
export type AddPoolInput = z.input<typeof addPoolSchema>;

export const poolPatchSchema = z.strictObject({ gpuUuids: addPoolSchema.shape.gpuUuids.unwrap() });
export type PoolPatch = z.input<typeof poolPatchSchema>;

function describe(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Parses `input` with `schema`; the first problem becomes a VgpuError with the most specific code. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what = 'VM'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (!issue) throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: what, detail: 'rejected' });
  const field = issue.path.map(String).join('.') || what;
  const value =
    input !== null && typeof input === 'object' && issue.path.length > 0
      ? (input as Record<string, unknown>)[String(issue.path[0])]
      : input;
  if (issue.code === 'unrecognized_keys') {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: what, detail: `unknown field(s) ${issue.keys.join(', ')}` });
  }
  if (field === 'name' || field === 'pool') {
    throw new VgpuError('VGPU_ERR_INVALID_NAME', { kind: field === 'pool' ? 'pool' : what, name: describe(value) });
  }
  if (field === 'priority') throw new VgpuError('VGPU_ERR_INVALID_PRIORITY', { input: describe(value) });
  throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field, detail: issue.message });
}

/** A VM or pool name, or VGPU_ERR_INVALID_NAME. */
export function checkName(name: unknown, kind = 'VM'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new VgpuError('VGPU_ERR_INVALID_NAME', { kind, name: describe(name) });
  }
  return name;
}

/** Bytes of a memory quota, null for none; sizes are parsed with parseSize. */
export function toMemoryQuota(v: number | string | null): number | null {
  if (v === null) return null;
  const bytes = parseSize(v);
  if (bytes < MEMORY_QUOTA_MIN) {
    throw new VgpuError('VGPU_ERR_INVALID_SIZE', {
      input: String(v),
      reason: 'a memory quota must be at least 1 MiB (use --memory none for no quota)',
    });
  }
  return bytes;
}

/** Milliseconds of a hold limit: a number of ms or a duration ("5s", "500ms"), 0 or "off" for no
 * limit, null for the mediator's default. */
export function toMaxHoldMs(v: number | string | null): number | null {
  if (v === null) return null;
  const text = String(v).trim();
  const ms = typeof v === 'number' ? v : text.toLowerCase() === 'off' ? 0 : durationMs(text);
  const range = `from ${MAX_HOLD_MIN_MS}ms to 24h, or off`;
  if (ms === undefined) {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'maxHoldMs', detail: `"${text}" is not a duration like 5s or 500ms (${range})` });
  }
  if (ms !== 0 && (!Number.isSafeInteger(ms) || ms < MAX_HOLD_MIN_MS || ms > MAX_HOLD_MAX_MS)) {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'maxHoldMs', detail: `must be ${range}, not ${text}` });
  }
  return ms;
}

/** The hybrid vsock path in one spelling ("/run//a/./b" is "/run/a/b"), so that the path a
 * listener was given and the path a VM is bound to compare equal. */
export function normaliseVsockPath(v: string | null): string | null {
  return v === null ? null : posix.normalize(v);
}

/** A certificate's SHA-256 in one spelling, 64 lower-case hex digits (what the mediator computes
 * of a guest's certificate); the schema has checked the form. */
export function normaliseShmPath(v: string | null): string | null {
  return v === null ? null : posix.normalize(v);
}

export function normaliseCertSha256(v: string | null): string | null {
  return v === null ? null : v.replace(/^sha256:/i, '').replaceAll(':', '').toLowerCase();
}

/** The PCI bus id in one spelling, "0000:65:00.0" (sysfs style), so equal ids compare equal. */
export function normalisePciBusId(v: string | null): string | null {
  if (v === null) return null;
  const m = PCI_RE.exec(v);
  if (!m) throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'pciBusId', detail: 'must look like 0000:65:00.0' });
  const [, dom = '0000', bus = '', dev = '', fn = ''] = m;
  const domain = dom.length === 8 ? dom.slice(4) : dom;
  if (dom.length === 8 && dom.slice(0, 4) !== '0000') {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'pciBusId', detail: 'PCI domains above ffff are not supported' });
  }
  return `${domain}:${bus}:${dev}.${fn}`.toLowerCase();
}
