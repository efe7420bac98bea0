// Keeps web pages out of the admin API. Loopback clients need no token (server.ts), so any page a
// browser on this host opens could otherwise use the API on its behalf:
// - DNS rebinding: a page of evil.example re-resolves its own name to 127.0.0.1 and calls the API
//   as a same-origin page. Its requests carry `Host: evil.example:PORT`, so a token-less request
//   must name the API's own address in Host.
// - Cross-site requests: a page's form or fetch sends a POST to http://127.0.0.1:PORT. Browsers
//   mark those with the page's Origin, which must then be the API's own; and a form can send
//   neither a JSON body nor a custom header, one of which every state-changing request needs.
// A request with a valid bearer token was not made by such a page (it cannot know the token), so
// it may name the host any way it likes; the Origin and state-change rules still apply to it.

import { isIP } from 'node:net';

/** The header vgpu-admin sends with every request; a form cannot send it, and a cross-origin page
 * cannot send it without a CORS preflight the API never answers. */
export const REQUEST_HEADER = 'x-vgpu-request';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** How a host name appears in Host: IPv6 literals in brackets, lower case. */
function hostForm(host: string): string {
  const h = host.toLowerCase();
  return isIP(h) === 6 ? `[${h}]` : h;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function reachedOverLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return isWildcard(h) || h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** The Host values that name an API listening on `listenHost`:`port`: that address (unless it is a
 * wildcard) and, where loopback reaches the API, `localhost`, `127.0.0.1` and `[::1]`; each with
 * the port, and also without it on port 80. */
export function allowedHosts(listenHost: string, port: number): ReadonlySet<string> {
  const names = new Set<string>();
  if (!isWildcard(listenHost)) names.add(hostForm(listenHost));
  if (reachedOverLoopback(listenHost)) for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(n);
  const out = new Set<string>();
  for (const n of names) {
    out.add(`${n}:${port}`);
    if (port === 80) out.add(n);
  }
  return out;
}

export interface RequestFacts {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  contentType: string | undefined;
  marker: string | undefined;
  /** The request carried the valid bearer token. */
  withToken: boolean;
}

export interface Refusal {
  status: 403 | 421;
  detail: string;
  hint: string;
}

/** Why the request must be refused as possibly made by a web page, or undefined if it may go on. */
export function browserRefusal(r: RequestFacts, hosts: ReadonlySet<string>): Refusal | undefined {
  const host = r.host?.toLowerCase();
  if (!r.withToken && (host === undefined || !hosts.has(host))) {
    return {
      status: 421,
      detail: `Host ${r.host === undefined ? '(none)' : JSON.stringify(r.host)} does not name this API (expected one of ${[...hosts].join(', ')})`,
      hint: 'address the API by its listen address, as vgpu-admin does; a page of another site that resolves its name to this host is refused',
    };
  }
  if (r.origin !== undefined && r.origin.toLowerCase() !== `http://${host}`) {
    return {
      status: 403,
      detail: `requests from web pages of other origins are refused (Origin ${JSON.stringify(r.origin)})`,
      hint: 'use vgpu-admin or another non-browser client',
    };
  }
  const json = r.contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json';
  if (STATE_CHANGING.has(r.method) && !json && r.marker !== '1') {
    return {
      status: 403,
      detail: `${r.method} needs a JSON body (Content-Type: application/json) or the header X-Vgpu-Request: 1`,
      hint: 'a browser form can send neither; vgpu-admin sends the header',
    };
  }
  return undefined;
}
