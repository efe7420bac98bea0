// The admin API's route table: method, path, schemas and the AdminOps call behind each route.
// The HTTP server registers these (src/admin/server.ts), the client calls them by the same table
// (src/admin/http-ops.ts), and docs/admin-api.md's OpenAPI document is generated from it
// (src/admin/openapi.ts), so the three cannot disagree.

import { z } from 'zod';

import { VgpuError } from '../common/errors.js';
import type { AdminOps } from './ops.js';
import { usageCsv } from './series.js';
import {
  addOperatorBody,
  addPoolBody,
  addVmBody,
  auditEntrySchema,
  auditQuery,
  gpuSampleSchema,
  gpuSchema,
  killBody,
  liveSchema,
  nameParams,
  operatorSchema,
  operatorTokenSchema,
  poolPatchBody,
  poolSchema,
  sessionParams,
  sessionSchema,
  usageBucketSchema,
  noQuery,
  usageQuery,
  usageSchema,
  usageSeriesQuery,
  vmDetailSchema,
  vmPatchBody,
  vmSchema,
  vmTokenSchema,
} from './schemas.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

/** An answer other than one JSON document: CSV text (`run` returns it), or a stream of
 * server-sent events, each event's data being what `run` returns, taken every `everyMs`
 * (src/admin/sse.ts). */
export type Produces =
  | { type: 'text/csv'; filename: string }
  | { type: 'text/event-stream'; event: string; everyMs: number };

export interface Route {
  /** Stable name, used by the client and as the OpenAPI operationId. */
  id: string;
  method: Method;
  /** Fastify form: `/v1/vms/:name`. */
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  /** Request body schema; validated by the store (its own schemas), shown in the OpenAPI. */
  body?: z.ZodType;
  bodyRequired?: boolean;
  status: 200 | 201;
  /** The JSON answer; with `produces`, the CSV text or each event's data. */
  response: z.ZodType;
  produces?: Produces;
  run(ops: AdminOps, r: RouteInput): Promise<unknown>;
}

/** Checks a request's query against its route's schema, the empty one where the route declares
 * none (a route's run parses its declared query again for its typed values). */
export function checkQuery(r: Route, query: unknown): void {
  parseInput(r.query ?? noQuery, query, 'query');
}

/** Parses params or query with zod; a mismatch is the caller's error (HTTP 400). */
export function parseInput<S extends z.ZodType>(schema: S, v: unknown, what: string): z.output<S> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.map(String).join('.') || what;
  const detail = issue?.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.join(', ')}` : (issue?.message ?? 'rejected');
  throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field, detail });
}

const vmChange = z.object({ before: vmSchema, after: vmSchema }).meta({ id: 'VmChange' });
const vmRemoved = z.object({ vm: vmSchema, sessionsEnded: z.number().int().min(0) }).meta({ id: 'VmRemoved' });

function name(r: RouteInput): string {
  return parseInput(nameParams, r.params, 'name').name;
}

export const ROUTES: readonly Route[] = [
  {
    id: 'listVms', method: 'GET', path: '/v1/vms', summary: 'List the VMs', status: 200,
    response: z.array(vmSchema), run: (ops) => ops.listVms(),
  },
  {
    id: 'addVm', method: 'POST', path: '/v1/vms', summary: 'Create a VM; the answer holds its token, shown only this once',
    body: addVmBody, bodyRequired: true, status: 201, response: vmTokenSchema,
    run: (ops, r) => ops.addVm(r.body as Parameters<AdminOps['addVm']>[0]),
  },
  {
    id: 'getVm', method: 'GET', path: '/v1/vms/:name', summary: "A VM's settings and all-time usage", params: nameParams,
    status: 200, response: vmDetailSchema, run: (ops, r) => ops.getVm(name(r)),
  },
  {
    id: 'setVm', method: 'PATCH', path: '/v1/vms/:name', summary: 'Change a VM (applies live: priority and weight at the next dispatch, the quota at the next allocation, the hold limit at the next request to yield, the rest to new sessions)',
    params: nameParams, body: vmPatchBody, bodyRequired: true, status: 200, response: vmChange,
    run: (ops, r) => ops.setVm(name(r), r.body as Parameters<AdminOps['setVm']>[1]),
  },
  {
    id: 'removeVm', method: 'DELETE', path: '/v1/vms/:name', summary: 'Remove a VM; its running sessions end',
    params: nameParams, status: 200, response: vmRemoved, run: (ops, r) => ops.removeVm(name(r)),
  },
  {
    id: 'rotateToken', method: 'POST', path: '/v1/vms/:name/token', summary: "Replace a VM's token; the old one stops working",
    params: nameParams, status: 200, response: vmTokenSchema, run: (ops, r) => ops.rotateToken(name(r)),
  },
  {
    id: 'listPools', method: 'GET', path: '/v1/pools', summary: 'List the pools of GPUs', status: 200,
    response: z.array(poolSchema), run: (ops) => ops.listPools(),
  },
  {
    id: 'addPool', method: 'POST', path: '/v1/pools', summary: 'Create a pool of GPUs this host has seen, none of them in another pool',
    body: addPoolBody, bodyRequired: true, status: 201, response: poolSchema,
    run: (ops, r) => ops.addPool(r.body as Parameters<AdminOps['addPool']>[0]),
  },
  {
    id: 'setPool', method: 'PATCH', path: '/v1/pools/:name', summary: "Replace a pool's GPUs (running sessions keep theirs)",
    params: nameParams, body: poolPatchBody, bodyRequired: true, status: 200, response: poolSchema,
    run: (ops, r) => ops.setPool(name(r), r.body as Parameters<AdminOps['setPool']>[1]),
  },
  {
    id: 'removePool', method: 'DELETE', path: '/v1/pools/:name', summary: 'Remove a pool no VM uses',
    params: nameParams, status: 200, response: poolSchema, run: (ops, r) => ops.removePool(name(r)),
  },
  {
    id: 'listGpus', method: 'GET', path: '/v1/gpus', summary: 'GPUs this host has seen, with their pool and live sessions', status: 200,
    response: z.array(gpuSchema), run: (ops) => ops.listGpus(),
  },
  {
    id: 'listSessions', method: 'GET', path: '/v1/sessions', summary: 'Guest sessions of the running mediator', status: 200,
    response: z.array(sessionSchema), run: (ops) => ops.listSessions(),
  },
  {
    id: 'killSession', method: 'POST', path: '/v1/sessions/:id/kill',
    summary: 'End a session: its guest gets VG_WIRE_STATUS_KILLED and its executor exits, freeing what it held',
    params: sessionParams, body: killBody, status: 200, response: sessionSchema,
    run: (ops, r) => {
      const id = Number(parseInput(sessionParams, r.params, 'id').id);
      const body = r.body === undefined || r.body === null ? {} : parseInput(killBody, r.body, 'body');
      return ops.killSession(id, body.reason);
    },
  },
  {
    id: 'usage', method: 'GET', path: '/v1/usage', summary: 'Usage per VM (device time, bytes, calls, peak memory), all time or since a time',
    query: usageQuery, status: 200, response: z.array(usageSchema),
    run: (ops, r) => ops.usage(parseInput(usageQuery, r.query, 'query')),
  },
  {
    id: 'audit', method: 'GET', path: '/v1/audit', summary: 'The newest configuration changes, oldest first',
    query: auditQuery, status: 200, response: z.array(auditEntrySchema),
    run: (ops, r) => {
      const q = parseInput(auditQuery, r.query, 'query');
      return ops.audit({ target: q.target, limit: q.limit === undefined ? undefined : Number(q.limit) });
    },
  },
  {
    id: 'usageSeries', method: 'GET', path: '/v1/usage/series',
    summary: 'Usage per VM over a period, in time buckets (buckets in which a VM did nothing are left out)',
    query: usageSeriesQuery, status: 200, response: z.array(usageBucketSchema),
    run: (ops, r) => ops.usageSeries(parseInput(usageSeriesQuery, r.query, 'query')),
  },
  {
    id: 'usageSeriesCsv', method: 'GET', path: '/v1/usage/series.csv',
    summary: 'The same as /v1/usage/series, as CSV: a header line, then at,vm,deviceTimeNs,bytesHtoD,bytesDtoH,calls,peakMemory',
    query: usageSeriesQuery, status: 200, response: z.string(), produces: { type: 'text/csv', filename: 'vgpu-usage.csv' },
    run: async (ops, r) => usageCsv(await ops.usageSeries(parseInput(usageSeriesQuery, r.query, 'query'))),
  },
  {
    id: 'live', method: 'GET', path: '/v1/live', summary: 'What runs now: GPUs, VMs\' live counters, sessions, the newest audit entry', status: 200,
    response: liveSchema, run: (ops) => ops.liveState(),
  },
  {
    id: 'events', method: 'GET', path: '/v1/events',
    summary: 'Server-sent events: a `live` event with what GET /v1/live answers, at once and every second until the client goes',
    status: 200, response: liveSchema, produces: { type: 'text/event-stream', event: 'live', everyMs: 1000 },
    run: (ops) => ops.liveState(),
  },
  {
    id: 'gpuHistory', method: 'GET', path: '/v1/gpus/history', summary: "The GPUs' readings of the last minutes, oldest first", status: 200,
    response: z.array(gpuSampleSchema), run: (ops) => ops.gpuHistory(),
  },
  {
    id: 'listOperators', method: 'GET', path: '/v1/operators', summary: 'List the operators (the admin-token file\'s `admin` is not among them)', status: 200,
    response: z.array(operatorSchema), run: (ops) => ops.listOperators(),
  },
  {
    id: 'addOperator', method: 'POST', path: '/v1/operators', summary: 'Create an operator; the answer holds its token, shown only this once',
    body: addOperatorBody, bodyRequired: true, status: 201, response: operatorTokenSchema,
    run: (ops, r) => ops.addOperator(parseInput(addOperatorBody, r.body, 'body').name),
  },
  {
    id: 'removeOperator', method: 'DELETE', path: '/v1/operators/:name', summary: "Remove an operator; its token stops working at once",
    params: nameParams, status: 200, response: operatorSchema, run: (ops, r) => ops.removeOperator(name(r)),
  },
  {
    id: 'rotateOperatorToken', method: 'POST', path: '/v1/operators/:name/token', summary: "Replace an operator's token; the old one stops working",
    params: nameParams, status: 200, response: operatorTokenSchema, run: (ops, r) => ops.rotateOperatorToken(name(r)),
  },
];

export function route(id: string): Route {
  const r = ROUTES.find((x) => x.id === id);
  if (!r) throw new Error(`no route ${id}`);
  return r;
}
