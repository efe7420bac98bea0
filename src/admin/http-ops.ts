// AdminOps over a running mediator's admin API: each operation is the route of the same name in
// src/admin/routes.ts; answers are checked against the route's response schema, errors come back
// as the VgpuError the mediator raised (same code, message and hint).

import { ERRORS, VgpuError, type VgpuErrorCode } from '../common/errors.js';
import type { AddPoolInput, AddVmInput, AuditEntry, PoolPatch, VmPatch } from '../store/index.js';
import type { AdminOps, AuditQueryInput, UsageQuery } from './ops.js';
import { route } from './routes.js';
import { REQUEST_HEADER } from './browser-guard.js';
import { errorSchema, type OperatorTokenView, type OperatorView, type GpuView, type PoolView, type SessionView, type UsageView, type VmDetail, type VmTokenView, type VmView } from './schemas.js';

const TIMEOUT_MS = 30_000;

function isCode(c: string): c is VgpuErrorCode {
  return Object.hasOwn(ERRORS, c);
}

export class HttpOps implements AdminOps {
  readonly where: string;
  readonly live = true;

  constructor(private readonly url: string, private readonly token?: string) {
    this.where = `the mediator at ${url}`;
  }

  private async call(id: string, params: Record<string, string> = {}, body?: unknown, query: Record<string, string | undefined> = {}): Promise<unknown> {
    const r = route(id);
    const path = r.path.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(params[k] ?? ''));
    const qs = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
    // The marker header tells the API this is no web page's request (src/admin/browser-guard.ts).
    const headers: Record<string, string> = { accept: 'application/json', [REQUEST_HEADER]: '1' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}${qs ? `?${qs}` : ''}`, {
        method: r.method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new VgpuError('VGPU_ERR_NO_MEDIATOR', {
        detail: `cannot reach the mediator's admin API at ${this.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new VgpuError('VGPU_ERR_NO_MEDIATOR', { detail: `${this.url} answered ${res.status} with something other than JSON: is it a vgpu mediator?` });
    }
    if (!res.ok) {
      const err = errorSchema.safeParse(json);
      if (!err.success) throw new VgpuError('VGPU_ERR_NO_MEDIATOR', { detail: `${this.url} answered ${res.status} without an error body` });
      const { code, message, hint } = err.data.error;
      throw new VgpuError(isCode(code) ? code : 'VGPU_ERR_INTERNAL', {}, { message, hint });
    }
    const parsed = r.response.safeParse(json);
    if (!parsed.success) {
      throw new VgpuError('VGPU_ERR_INTERNAL', { detail: `the mediator's answer to ${r.method} ${path} does not match the API: ${parsed.error.issues[0]?.message ?? ''}` });
    }
    return parsed.data;
  }

  async listVms(): Promise<VmView[]> {
    return (await this.call('listVms')) as VmView[];
  }
  async getVm(name: string): Promise<VmDetail> {
    return (await this.call('getVm', { name })) as VmDetail;
  }
  async addVm(input: AddVmInput): Promise<VmTokenView> {
    return (await this.call('addVm', {}, input)) as VmTokenView;
  }
  async setVm(name: string, patch: VmPatch): Promise<{ before: VmView; after: VmView }> {
    return (await this.call('setVm', { name }, patch)) as { before: VmView; after: VmView };
  }
  async removeVm(name: string): Promise<{ vm: VmView; sessionsEnded: number }> {
    return (await this.call('removeVm', { name })) as { vm: VmView; sessionsEnded: number };
  }
  async rotateToken(name: string): Promise<VmTokenView> {
    return (await this.call('rotateToken', { name })) as VmTokenView;
  }
  async listPools(): Promise<PoolView[]> {
    return (await this.call('listPools')) as PoolView[];
  }
  async addPool(input: AddPoolInput): Promise<PoolView> {
    return (await this.call('addPool', {}, input)) as PoolView;
  }
  async setPool(name: string, patch: PoolPatch): Promise<PoolView> {
    return (await this.call('setPool', { name }, patch)) as PoolView;
  }
  async removePool(name: string): Promise<PoolView> {
    return (await this.call('removePool', { name })) as PoolView;
  }
  async listGpus(): Promise<GpuView[]> {
    return (await this.call('listGpus')) as GpuView[];
  }
  async listSessions(): Promise<SessionView[]> {
    return (await this.call('listSessions')) as SessionView[];
  }
  async killSession(id: number, reason?: string): Promise<SessionView> {
    return (await this.call('killSession', { id: String(id) }, reason === undefined ? {} : { reason })) as SessionView;
  }
  async usage(q: UsageQuery): Promise<UsageView[]> {
    return (await this.call('usage', {}, undefined, { vm: q.vm, since: q.since })) as UsageView[];
  }
  async audit(q: AuditQueryInput): Promise<AuditEntry[]> {
    return (await this.call('audit', {}, undefined, { target: q.target, limit: q.limit === undefined ? undefined : String(q.limit) })) as AuditEntry[];
  }
  async listOperators(): Promise<OperatorView[]> {
    return (await this.call('listOperators')) as OperatorView[];
  }
  async addOperator(name: string): Promise<OperatorTokenView> {
    return (await this.call('addOperator', {}, { name })) as OperatorTokenView;
  }
  async removeOperator(name: string): Promise<OperatorView> {
    return (await this.call('removeOperator', { name })) as OperatorView;
  }
  async rotateOperatorToken(name: string): Promise<OperatorTokenView> {
    return (await this.call('rotateOperatorToken', { name })) as OperatorTokenView;
  }
  close(): void {}
}
