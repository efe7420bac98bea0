// The dashboard's files (built by `make ui` from ui/ into dist/ui), served at /ui/ by the admin
// server under the same authentication as the API (docs/dashboard.md).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** dist/ui, next to dist/src where this module runs from. */
export const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

/** The page may load only its own files and talk only to its own origin; no site may frame it
 * (its buttons end sessions and change VMs). */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export async function registerUi(app: FastifyInstance, dir: string = UI_DIR): Promise<void> {
  if (!existsSync(join(dir, 'index.html'))) {
    // A tree built without `make ui` (only `tsc`): say so instead of a bare 404.
    app.get('/ui/*', async (_req, reply) => reply.code(503).send({
      error: { code: 'VGPU_ERR_INTERNAL', message: `the dashboard was not built (no ${join(dir, 'index.html')})`, hint: 'run make ui (make all builds it too)' },
    }));
  } else {
    await app.register(fastifyStatic, {
      root: dir,
      prefix: '/ui/',
      index: 'index.html',
      setHeaders: (reply) => {
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) void reply.header(k, v);
      },
    });
  }
  app.get('/', async (_req, reply) => reply.redirect('/ui/', 302));
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/', 302));
}
