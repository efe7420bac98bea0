// An operator's token (or the admin token) as a request presents it: `Authorization: Bearer TOKEN`
// (vgpu-admin, scripts), or `Authorization: Basic` with the token as the password (a browser
// opening the dashboard from another host: it asks for a user name and password when answered 401
// with a Basic challenge, and then sends them with every request of the page, its event stream
// included, which fetch with a Bearer header could not do for EventSource).

/** The challenges of a 401: one realm, both schemes; browsers answer the Basic one. */
export const CHALLENGES = ['Bearer realm="vgpu"', 'Basic realm="vgpu", charset="UTF-8"'];

/** The token in an Authorization header, or undefined when it holds none. */
export function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(header);
  if (!basic) return undefined;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  // The user name is not checked: the token alone says which operator it is (docs/dashboard.md).
  return colon >= 0 ? text.slice(colon + 1) : undefined;
}
