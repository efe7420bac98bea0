// The mediator's admin HTTP API (docs/admin-api.md): the route table's handlers over StoreOps,
// Prometheus metrics, and bearer-token authentication for every client not on loopback.
// Loopback is decided from the TCP peer address only; forwarding headers are never trusted, so a
// reverse proxy on this host must itself be put behind the token (or not be used). Web pages are
// kept out by browser-guard.ts.

import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

import { VgpuError } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { AdminOps } from './ops.js';
import { checkQuery, ROUTES } from './routes.js';
import { openApiDocument } from './openapi.js';
import { allowedHosts, browserRefusal, REQUEST_HEADER } from './browser-guard.js';
import { CHALLENGES, presentedToken } from './credentials.js';
import { EventStreams } from './sse.js';
import { registerUi } from './ui.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  /** The operations, with changes audited as `actor` (the request's operator). */
  opsFor(actor: string): AdminOps;
  metrics: Registry;
  /** The operator a bearer token belongs to ("admin" for the admin-token file's), or undefined. */
  operatorOf(token: string): string | undefined;
  log: Logger;
  /** What /readyz reports: each check's state ('ok' or why not). */
  readiness: () => Readiness;
}

/** /readyz: ready when every check says 'ok'; with the addresses bound and the backend in use,
 * for `vgpu-admin doctor` (neither says anything about tenants). */
export interface Readiness {
  checks: Record<string, string>;
  listeners: string[];
  backend: string | null;
}

/** What anyone may GET without a token: the probes load balancers and orchestrators call, and the
 * OpenAPI document, which is the same for every host and published in docs/admin-api.md. None
 * says anything about tenants (GET only: the browser guard has nothing to protect there). */
const PUBLIC = new Set(['/healthz', '/readyz', '/openapi.json']);

/** Is `addr` (a socket's remoteAddress) this host's loopback? 127.0.0.0/8, ::1, and their
 * IPv4-mapped forms. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.toLowerCase().replace(/^::ffff:/, '');
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

const STATUS: Readonly<Record<number, number>> = { 1: 500, 2: 400, 3: 404, 4: 409, 5: 503 };

function errorBody(code: string, message: string, hint = ''): { error: { code: string; message: string; hint: string } } {
  return { error: { code, message, hint } };
}

function send(reply: FastifyReply, e: unknown, log: Logger): FastifyReply {
  if (e instanceof VgpuError) {
    const status = e.code === 'VGPU_ERR_UNAUTHORIZED' ? 401 : (STATUS[e.exitStatus] ?? 500);
    return reply.code(status).send({ error: e.toJSON() });
  }
  const fe = e as { statusCode?: number; message?: string; code?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own refusals: malformed JSON, wrong content type, body too large.
    return reply.code(fe.statusCode).send(errorBody('VGPU_ERR_USAGE', fe.message ?? 'bad request'));
  }
  log.error({ err: (e as Error)?.stack ?? String(e) }, 'admin API: internal error');
  return reply.code(500).send(errorBody('VGPU_ERR_INTERNAL', `internal error: ${(e as Error)?.message ?? String(e)}`));
}

export async function startAdminServer(o: AdminServerOptions): Promise<{ app: FastifyInstance; url: string }> {
  const log = o.log.child({ component: 'admin-api' });
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: false });

  /** Set once listening: the port may be chosen by the system. */
  let hosts: ReadonlySet<string> = new Set();
  /** Who made each request, for the audit log: `operator:NAME`, or `api:loopback` for a
   * loopback client that sent no token. */
  const actors = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method === 'GET' && PUBLIC.has(req.url.split('?')[0]!)) return;
    const h = req.headers.authorization ?? '';
    const presented = presentedToken(h);
    const operator = presented !== undefined ? o.operatorOf(presented) : undefined;
    const withToken = operator !== undefined;
    // A token that is given must be right, from loopback too: whoever sent it expects the changes
    // to be recorded as theirs.
    if (withToken || (h === '' && isLoopback(req.socket.remoteAddress))) {
      actors.set(req, withToken ? `operator:${operator}` : 'api:loopback');
      const marker = req.headers[REQUEST_HEADER];
      const refusal = browserRefusal({
        method: req.method, host: req.headers.host, origin: req.headers.origin, contentType: req.headers['content-type'],
        marker: typeof marker === 'string' ? marker : undefined, withToken,
      }, hosts);
      if (!refusal) return;
      log.warn({ peer: req.socket.remoteAddress, method: req.method, url: req.url, host: req.headers.host, origin: req.headers.origin }, 'admin API: request that may come from a web page refused');
      await reply.code(refusal.status).send(errorBody('VGPU_ERR_FORBIDDEN', `the admin API refused the request: ${refusal.detail}`, refusal.hint));
      return;
    }
    log.warn({ peer: req.socket.remoteAddress, url: req.url, given: h === '' ? 'none' : 'wrong' }, 'admin API: request without a valid token refused');
    await reply
      .code(401)
      .header('www-authenticate', CHALLENGES)
      .send(errorBody('VGPU_ERR_UNAUTHORIZED',
        `the admin API refused the request: ${h === '' ? 'a bearer token is required from a non-loopback address' : 'the token is no operator\'s and not the admin token'}`,
        "send Authorization: Bearer <token> (a browser: the token as the password): an operator's token ('vgpu-admin operator add NAME' on the host), or the admin token in admin-token in the mediator's state directory"));
  });

  app.setErrorHandler((e, _req, reply) => send(reply, e, log));
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('VGPU_ERR_USAGE', `no route ${req.method} ${req.url.split('?')[0]}`, 'see docs/admin-api.md for the routes'));
  });

  const streams = new EventStreams();
  // Open event streams would keep the server from closing.
  app.addHook('preClose', async () => streams.closeAll());
  /** The operations as the request's operator (authenticated by the hook above). */
  const opsOf = (req: FastifyRequest): AdminOps => {
    const actor = actors.get(req);
    if (actor === undefined) throw new Error(`${req.method} ${req.url} reached its handler unauthenticated`);
    return o.opsFor(actor);
  };
  for (const r of ROUTES) {
    const input = (req: FastifyRequest): Parameters<typeof r.run>[1] => {
      checkQuery(r, req.query ?? {});
      return {
        params: (req.params ?? {}) as Record<string, string>,
        query: (req.query ?? {}) as Record<string, string>,
        body: req.body,
      };
    };
    const produces = r.produces;
    if (produces?.type === 'text/event-stream') {
      app.route({
        method: r.method,
        url: r.path,
        handler: async (req, reply) => {
          const ops = opsOf(req);
          const first = await r.run(ops, input(req));
          streams.serve(req, reply, { event: produces.event, everyMs: produces.everyMs, take: () => r.run(ops, input(req)) }, first, log);
        },
      });
      continue;
    }
    app.route({
      method: r.method,
      url: r.path,
      handler: async (req, reply) => {
        if (r.bodyRequired && (req.body === undefined || req.body === null)) {
          throw new VgpuError('VGPU_ERR_USAGE', { detail: `${r.method} ${r.path} needs a JSON body` });
        }
        const result = await r.run(opsOf(req), input(req));
        if (produces?.type === 'text/csv') {
          void reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${produces.filename}"`);
        }
        return reply.code(r.status).send(result);
      },
    });
  }

  // Liveness: the process answers. Readiness: the store, the backend and every listener are up
  // and the mediator is not draining.
  app.get('/healthz', async (_req, reply) => reply.send({ status: 'ok', version: VERSION }));
  app.get('/readyz', async (_req, reply) => {
    const { checks, listeners, backend } = o.readiness();
    const ready = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ready ? 200 : 503).send({ ready, checks, listeners, backend });
  });

  // The document the route table's schemas describe: the same schemas validate every request.
  const openapi = JSON.stringify(openApiDocument());
  app.get('/openapi.json', async (_req, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(openapi));

  await registerUi(app);

  app.get('/metrics', async (_req, reply) => {
    const text = await o.metrics.metrics();
    return reply.header('content-type', o.metrics.contentType).send(text);
  });

  await app.listen({ host: o.host, port: o.port });
  // Client sockets' errors are the HTTP server's to handle; the listening socket's are ours.
  app.server.on('error', (e) => log.error({ err: e.message }, 'admin API: listener error'));
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  hosts = allowedHosts(o.host, port);
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  // A wildcard listener is reached over loopback by local clients.
  const urlHost = o.host === '0.0.0.0' ? '127.0.0.1' : o.host === '::' ? '[::1]' : host;
  return { app, url: `http://${urlHost}:${port}` };
}
