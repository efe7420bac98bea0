// The admin API as the page calls it: same origin, so the browser sends whatever authenticated
// the page (nothing on loopback, the Basic credentials from another host). Every request carries
// the header the API's browser guard asks of state changes (docs/admin-api.md, Web browsers).
// The shapes are the API's own (src/admin/schemas.ts), imported as types only: the page does not
// bundle the server's validation.

import type { AuditEntry } from '../../src/store/audit.js';
import type {
  GpuSample, GpuView, LiveView, SessionView, UsageBucketView, VmTokenView, VmView,
} from '../../src/admin/schemas.js';

export type { AuditEntry, GpuSample, GpuView, LiveView, SessionView, UsageBucketView, VmTokenView, VmView };
export type LiveGpu = LiveView['gpus'][number];
export type LiveVm = LiveView['vms'][number];

/** An error answer of the API: its message and hint, as vgpu-admin prints them. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly hint: string) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-vgpu-request': '1' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `${method} ${path} answered ${res.status} with something other than JSON`, '');
  }
  if (!res.ok) {
    const e = (json as { error?: { message?: unknown; hint?: unknown } } | undefined)?.error;
    throw new ApiError(res.status, typeof e?.message === 'string' ? e.message : `${method} ${path} answered ${res.status}`, typeof e?.hint === 'string' ? e.hint : '');
  }
  return json as T;
}

/** What the VM forms send: the API's AddVm and VmPatch bodies (sizes as text like "2G"). */
export interface VmSettings {
  priority?: 'high' | 'medium' | 'low';
  weight?: number;
  memoryQuota?: string | null;
  pool?: string;
}

export const api = {
  vms: () => call<VmView[]>('GET', '/v1/vms'),
  addVm: (name: string, s: VmSettings) => call<VmTokenView>('POST', '/v1/vms', { name, ...s }),
  setVm: (name: string, s: VmSettings) => call<{ before: VmView; after: VmView }>('PATCH', `/v1/vms/${encodeURIComponent(name)}`, s),
  gpus: () => call<GpuView[]>('GET', '/v1/gpus'),
  gpuHistory: () => call<GpuSample[]>('GET', '/v1/gpus/history'),
  killSession: (id: number) => call<SessionView>('POST', `/v1/sessions/${id}/kill`, { reason: 'ended from the dashboard' }),
  audit: (limit: number) => call<AuditEntry[]>('GET', `/v1/audit?limit=${limit}`),
  usageSeries: (since: string, step: string | undefined) =>
    call<UsageBucketView[]>('GET', `/v1/usage/series?${seriesQuery(since, step)}`),
};

export function seriesQuery(since: string, step: string | undefined): string {
  const q = new URLSearchParams({ since });
  if (step) q.set('step', step);
  return q.toString();
}
