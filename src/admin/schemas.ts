// The admin API's data shapes, as zod schemas: one definition each for the HTTP server (request
// validation), the HTTP client in vgpu-admin (response validation) and docs/admin-api.md (the
// OpenAPI document is generated from them, src/admin/openapi.ts).

import { z } from 'zod';

import { PRIORITIES, type Vm } from '../store/index.js';
import { addPoolSchema, addVmSchema, poolPatchSchema, vmPatchSchema } from '../store/validate.js';

const count = z.number().int().min(0);
const isoTime = z.string().describe('ISO 8601 time');

export const vmSchema = z.object({
  name: z.string(),
  pool: z.string(),
  priority: z.enum(PRIORITIES),
  weight: z.number().int(),
  memoryQuota: z.number().int().nullable().describe('bytes of GPU memory the VM may hold; null for no quota'),
  vgpus: z.number().int(),
  pciBusId: z.string().nullable(),
  notes: z.string(),
  maxHoldMs: z.number().int().nullable()
    .describe("longest one call may hold the GPU while other sessions wait, in ms; 0 for no limit, null for the mediator's default (--max-hold)"),
  vsockCid: z.number().int().nullable().describe("guest CID whose AF_VSOCK connections are this VM's without a token; null for none"),
  vsockPath: z.string().nullable().describe("hybrid vsock socket path (a vsock-uds: listener's PATH) whose connections are this VM's without a token; null for none"),
  tlsClientCertSha256: z.string().nullable()
    .describe("SHA-256 (64 lower-case hex digits) of the TLS client certificate whose connections are this VM's without a token; null for none"),
  shmPath: z.string().nullable().describe("host file behind the VM's ivshmem region, mapped by its sessions' executors for bulk copies; null for none"),
  createdAt: isoTime,
  updatedAt: isoTime,
}).meta({ id: 'Vm' });
export type VmView = z.infer<typeof vmSchema>;

/** The public form of a VM, for the API and vgpu-admin alike: the schema's fields and nothing else
 * (the store's row id stays inside). */
export function vmView(vm: Vm): VmView {
  return vmSchema.parse(vm);
}

export const usageSchema = z.object({
  vm: z.string(),
  since: isoTime.nullable().describe('start of the period; null for all time'),
  deviceTimeNs: count,
  bytesHtoD: count.describe('bytes received from the guest'),
  bytesDtoH: count.describe('bytes sent to the guest'),
  calls: count,
  peakMemory: count,
  updatedAt: isoTime.nullable(),
}).meta({ id: 'Usage' });
export type UsageView = z.infer<typeof usageSchema>;

export const vmDetailSchema = vmSchema.extend({
  usage: usageSchema,
  imageStoreBytes: count.describe('bytes of module images the VM keeps in the host\'s image store (docs/operations.md)'),
}).meta({ id: 'VmDetail' });
export type VmDetail = z.infer<typeof vmDetailSchema>;

export const vmTokenSchema = z.object({ vm: vmSchema, token: z.string() }).meta({ id: 'VmWithToken' });
export type VmTokenView = z.infer<typeof vmTokenSchema>;

export const poolSchema = z.object({
  name: z.string(),
  gpuUuids: z.array(z.string()).describe('GPUs the pool names; empty for default, which holds every GPU no other pool names'),
  vms: count.describe('VMs placed on this pool'),
  createdAt: isoTime,
  updatedAt: isoTime,
}).meta({ id: 'Pool' });
export type PoolView = z.infer<typeof poolSchema>;

const percent = z.number().min(0).max(100);

export const gpuTelemetrySchema = z.object({
  index: z.number().int().min(0).describe("the backend's device index (DCGM's `gpu` label)"),
  memory: z.object({
    total: count, used: count, free: count,
    source: z.enum(['nvml', 'sessions']).describe("nvml: the host NVML's figures for the board; sessions: what the sessions' executors hold (softgpu, or no NVML)"),
  }),
  utilization: z.object({
    gpuPercent: percent,
    source: z.enum(['nvml', 'device-time']).describe("nvml: the host NVML's utilization rate; device-time: device time the executors measured over the last seconds"),
  }),
  temperatureC: z.number().optional().describe("from the host NVML; absent where there is none (softgpu has no board)"),
  powerW: z.number().optional().describe('from the host NVML; absent where there is none'),
  powerLimitW: z.number().optional().describe('from the host NVML; absent where there is none'),
  smClockMhz: z.number().optional().describe('from the host NVML; absent where there is none'),
  memClockMhz: z.number().optional().describe('from the host NVML; absent where there is none'),
  vms: z.array(z.object({
    vm: z.string(),
    sessions: count,
    memoryUsed: count.describe("bytes the VM's sessions hold, counted on their first GPU"),
    utilizationPercent: percent,
  })).describe('VMs with live sessions on this GPU'),
}).meta({ id: 'GpuTelemetry' });
export type GpuTelemetryView = z.infer<typeof gpuTelemetrySchema>;

export const gpuSchema = z.object({
  uuid: z.string(),
  name: z.string(),
  backend: z.enum(['cuda', 'softgpu']),
  totalMemory: count,
  pciBusId: z.string().nullable(),
  pool: z.string(),
  present: z.boolean().describe('whether the running mediator has this GPU now'),
  ordinal: z.number().int().nullable(),
  sessions: count,
  firstSeen: isoTime,
  lastSeen: isoTime,
  telemetry: gpuTelemetrySchema.nullable().describe('memory, utilization and board values now; null when the running mediator does not have this GPU, or none runs'),
}).meta({ id: 'Gpu' });
export type GpuView = z.infer<typeof gpuSchema>;

export const sessionSchema = z.object({
  id: z.number().int(),
  vm: z.string(),
  guestPid: z.number().int(),
  hostname: z.string(),
  program: z.string(),
  state: z.enum(['discovery', 'attaching', 'attached', 'ended']),
  startedAt: isoTime,
  executorPid: z.number().int().nullable(),
  gpus: z.array(z.string()).describe('UUIDs of the physical GPUs its vGPUs run on'),
  devices: z.array(z.object({
    vgpu: z.number().int().describe("the guest's device ordinal"),
    guestUuid: z.string().describe('the UUID the guest sees for it (cuDeviceGetUuid, nvidia-smi -L)'),
    gpu: z.string().describe('UUID of the host GPU it runs on, as in gpu list'),
    gpuOrdinal: z.number().int().describe("the host GPU's ordinal on the mediator's backend"),
  })).describe("each vGPU of the session: the UUID its guest sees, and the host GPU behind it"),
  memoryUsed: count,
  calls: count,
  deviceTimeNs: count,
  bytesIn: count,
  bytesOut: count,
}).meta({ id: 'Session' });
export type SessionView = z.infer<typeof sessionSchema>;

export const operatorSchema = z.object({
  name: z.string(),
  createdAt: isoTime,
  updatedAt: isoTime.describe('when its token was last replaced'),
}).meta({ id: 'Operator' });
export type OperatorView = z.infer<typeof operatorSchema>;

export const operatorTokenSchema = z.object({ operator: operatorSchema, token: z.string() }).meta({ id: 'OperatorWithToken' });
export type OperatorTokenView = z.infer<typeof operatorTokenSchema>;

/** The public form of an operator (the store's row id stays inside). */
export function operatorView(o: OperatorView): OperatorView {
  return operatorSchema.parse(o);
}

export const auditEntrySchema = z.object({
  id: z.number().int(),
  at: isoTime,
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  details: z.record(z.string(), z.unknown()),
}).meta({ id: 'AuditEntry' });

export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), hint: z.string() }),
}).meta({ id: 'Error' });

// Request bodies: the store's own input schemas, so the API accepts exactly what the store does.
export const addVmBody = addVmSchema.meta({ id: 'AddVm' });
export const vmPatchBody = vmPatchSchema.meta({ id: 'VmPatch' });
export const addPoolBody = addPoolSchema.meta({ id: 'AddPool' });
export const poolPatchBody = poolPatchSchema.meta({ id: 'PoolPatch' });
export const addOperatorBody = z.strictObject({ name: z.string() }).meta({ id: 'AddOperator' });

export const nameParams = z.strictObject({ name: z.string() });
export const sessionParams = z.strictObject({ id: z.string().regex(/^\d{1,15}$/, 'must be a session id') });
/** The query of a route that takes no parameter: none, so a misspelt one is refused, not ignored. */
export const noQuery = z.strictObject({});
export const usageQuery = z.strictObject({
  vm: z.string().optional(),
  since: z.string().optional().describe('ISO 8601 time, or a duration back from now like 90s, 15m, 2h, 7d'),
});
export const auditQuery = z.strictObject({
  target: z.string().optional(),
  limit: z.string().regex(/^\d{1,6}$/, 'must be a whole number').optional(),
});
export const killBody = z.strictObject({ reason: z.string().max(200).optional() }).meta({ id: 'KillSession' });

// ---- live state (the dashboard, docs/dashboard.md) -------------------------------------------

const nullableReading = (what: string): z.ZodNullable<z.ZodNumber> => z.number().nullable().describe(`${what}; null where the host's NVML does not say`);

export const liveGpuSchema = z.object({
  uuid: z.string(),
  ordinal: z.number().int(),
  name: z.string(),
  memoryTotal: count,
  memoryUsed: count.describe('device memory the sessions placed on it hold (a session on several GPUs counts on its first)'),
  utilization: z.number().min(0).max(100).describe('percent of the last seconds in which its sessions ran work on it'),
  temperatureC: nullableReading('board temperature in °C'),
  powerW: nullableReading('board power draw in W'),
  holder: z.number().int().nullable().describe('session holding its time slice; null when idle'),
  waiting: z.array(z.number().int()).describe('sessions waiting for a time slice on it, in request order'),
}).meta({ id: 'LiveGpu' });
export type LiveGpu = z.infer<typeof liveGpuSchema>;

export const liveVmSchema = z.object({
  vm: z.string(),
  sessions: count,
  memoryUsed: count,
  deviceTimeNs: count.describe('device time since the mediator started'),
  calls: count.describe('driver API calls since the mediator started'),
  grants: z.object({ alone: count, policy: count, starvation: count })
    .describe('GPU time slices granted since the mediator started, by why (see vgpu_sched_grants_total)'),
  preemptions: count,
  contendedDeviceTimeNs: count.describe('device time charged while another session wanted the same GPU'),
}).meta({ id: 'LiveVm' });
export type LiveVm = z.infer<typeof liveVmSchema>;

export const liveSchema = z.object({
  at: isoTime,
  gpus: z.array(liveGpuSchema),
  vms: z.array(liveVmSchema).describe('VMs with sessions now or scheduler counts since the mediator started'),
  sessions: z.array(sessionSchema),
  auditHead: count.describe('id of the newest audit entry: when it changes, VMs, pools or the audit log changed'),
}).meta({ id: 'Live' });
export type LiveView = z.infer<typeof liveSchema>;

export const gpuSampleSchema = z.object({
  at: isoTime,
  gpus: z.array(liveGpuSchema.pick({ uuid: true, memoryUsed: true, utilization: true, temperatureC: true, powerW: true })),
}).meta({ id: 'GpuSample' });
export type GpuSample = z.infer<typeof gpuSampleSchema>;

export const usageBucketSchema = z.object({
  vm: z.string(),
  at: isoTime.describe("the bucket's start"),
  deviceTimeNs: count,
  bytesHtoD: count,
  bytesDtoH: count,
  calls: count,
  peakMemory: count,
}).meta({ id: 'UsageBucket' });
export type UsageBucketView = z.infer<typeof usageBucketSchema>;

export const usageSeriesQuery = z.strictObject({
  vm: z.string().optional(),
  since: z.string().optional().describe('ISO 8601 time, or a duration back from now like 15m, 2h, 7d (default 24h)'),
  until: z.string().optional().describe('ISO 8601 time, or a duration back from now (default now)'),
  step: z.string().optional().describe('bucket length, a duration like 10s, 5m, 1h (default: the period in about 100 buckets)'),
});
