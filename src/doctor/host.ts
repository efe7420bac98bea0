// `vgpu-admin doctor`'s checks of a host (docs/operations.md, "Doctor"): the NVIDIA driver, the
// backend a mediator would use, the store, the guests' Unix sockets, the running mediator's admin
// API and listeners, and free GPU memory. Each check says what it found and, when not ok, the
// flag, variable or command that fixes it.

import { accessSync, constants, existsSync, lstatSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';

import { VgpuError } from '../common/errors.js';
import { formatSize } from '../common/size.js';
import { DB_FILE, SCHEMA_VERSION } from '../store/index.js';
import { probeBackend, probeFailureReason, type Backend, type BackendChoice } from '../mediator/backend.js';
import { parseListen, socketFile } from '../mediator/listen.js';
import { locateMediator, type Located } from '../mediator/locate.js';
import type { DeviceMemory } from '../executor/probe.js';
import { REQUEST_HEADER } from '../admin/browser-guard.js';
import { explainCuresults } from './curesult.js';
import { fail, ok, warn, type Check } from './report.js';

export interface HostDoctorOptions {
  stateDir: string;
  env: Readonly<Record<string, string | undefined>>;
  /** The backend the mediator is (to be) started with. */
  backend: BackendChoice;
  /** The admin API: --url / $VGPU_ADMIN_URL / admin.json, resolved by the caller; undefined: none. */
  adminUrl: string | undefined;
  adminToken: string | undefined;
  /** Unix sockets to check; empty: the running mediator's, else $VGPU_SERVER's, else where
   * locate.ts finds the mediator (the state directory's listen file, the configuration file). */
  sockets: readonly string[];
  /** The mediator's configuration file: a path, false for none, undefined for the default when it exists. */
  config?: string | false | undefined;
}

const readySchema = z.object({
  ready: z.boolean(),
  checks: z.record(z.string(), z.string()),
  listeners: z.array(z.string()).optional(),
  backend: z.string().nullable().optional(),
});
type Ready = z.infer<typeof readySchema>;
const healthSchema = z.object({ status: z.string(), version: z.string() });

const HTTP_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 3000;
/** Below this share of a GPU's memory free, new sessions are likely to fail their allocations. */
const LOW_FREE_SHARE = 0.05;

type Probed = Backend & { memory?: DeviceMemory[] };

const START_FIX = "start the mediator: 'vgpu-mediator --state-dir DIR' (or 'make run', or 'systemctl start vgpu-mediator')";

/** The probe, or the one line that says why it failed. */
async function tryProbe(kind: 'cuda' | 'softgpu', env: HostDoctorOptions['env']): Promise<Probed | string> {
  try {
    return await probeBackend(kind, { env: { ...env }, memory: true });
  } catch (e) {
    return explainCuresults(probeFailureReason(e as Error));
  }
}

function driverCheck(choice: BackendChoice, cuda: Probed | string | undefined): Check {
  const name = 'driver';
  if (cuda === undefined) return ok(name, 'not used (--backend softgpu)');
  const needed = choice === 'cuda';
  const fix = needed
    ? "install NVIDIA's driver, or point VGPU_HOST_LIBCUDA at its libcuda.so.1; or start the mediator with --backend auto (softgpu when there is no GPU)"
    : "install NVIDIA's driver (or set VGPU_HOST_LIBCUDA=/path/to/libcuda.so.1) to use a GPU; until then the mediator uses softgpu";
  if (typeof cuda === 'string') return (needed ? fail : warn)(name, `no usable NVIDIA driver: ${cuda}`, fix);
  if (cuda.devices.length === 0) return (needed ? fail : warn)(name, `NVIDIA driver at ${cuda.path} initialises but reports no device`, fix);
  const v = `${Math.floor(cuda.driverVersion / 1000)}.${(cuda.driverVersion % 1000) / 10}`;
  return ok(name, `NVIDIA driver at ${cuda.path} (CUDA ${v}): ${cuda.devices.length} device(s)`);
}

function memoryCheck(b: Probed): Check {
  const name = 'gpu memory';
  const mem = b.memory ?? [];
  if (mem.length === 0) return fail(name, `the ${b.kind} backend reports no device`, 'see the driver and backend checks');
  const parts = mem.map((m) => {
    const dev = b.devices.find((d) => d.ordinal === m.ordinal);
    return `GPU ${m.ordinal} (${dev?.name ?? '?'}): ${formatSize(m.free)} free of ${formatSize(m.total)}`;
  });
  const low = mem.filter((m) => m.total > 0 && m.free / m.total < LOW_FREE_SHARE);
  if (low.length > 0) {
    return warn(name, parts.join('; '), `GPU ${low.map((m) => m.ordinal).join(', ')} is nearly full: see 'nvidia-smi' for processes outside vgpu, and 'vgpu-admin session list'`);
  }
  return ok(name, parts.join('; '));
}

/** The store's migration level, read without changing it (a read-only connection). */
function storeCheck(stateDir: string): Check {
  const name = 'store';
  const file = path.join(stateDir, DB_FILE);
  if (!existsSync(file)) {
    return warn(name, `no store at ${file} yet`, "the mediator creates it on its first start; if it should exist, give the mediator's state directory: --state-dir DIR or VGPU_STATE_DIR");
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const level = z.number().int().parse(db.prepare('SELECT COALESCE(MAX(version), 0) FROM schema_migrations').pluck().get());
    if (level > SCHEMA_VERSION) {
      return fail(name, `${file} is at migration ${level}, newer than this vgpu knows (${SCHEMA_VERSION})`, 'run the vgpu release that wrote it, or restore a backup of the state directory');
    }
    if (level < SCHEMA_VERSION) {
      return warn(name, `${file} is at migration ${level} of ${SCHEMA_VERSION}`, 'the mediator migrates it when it starts (vgpu-admin does too)');
    }
    return ok(name, `${file} opens, migration ${level} (current)`);
  } catch (e) {
    return fail(name, `${file} does not open: ${(e as Error).message}`, `check its owner and mode ('ls -l ${file}'), and run as the mediator's user`);
  } finally {
    db?.close();
  }
}

/** uid/gid → name from the files NSS's "files" source reads; numbers where there is none. */
function accountNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      const id = Number(f[2]);
      if (f[0] && Number.isInteger(id) && !names.has(id)) names.set(id, f[0]);
    }
  } catch {
    /* no such file: numbers only */
  }
  return names;
}

function currentUser(): string {
  const uid = process.getuid?.() ?? -1;
  return `${accountNames('/etc/passwd').get(uid) ?? 'uid'} (uid ${uid})`;
}

function connectable(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: file });
    const done = (why: string | null): void => {
      clearTimeout(t);
      s.destroy();
      resolve(why);
    };
    const t = setTimeout(() => done('no answer within 3 s'), CONNECT_TIMEOUT_MS);
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** Whether this user may reach and connect to a guest socket, and who may. */
export async function socketCheck(file: string): Promise<Check> {
  const name = `socket ${file}`;
  const me = currentUser();
  // connect() needs search permission on every directory above the socket and write on it.
  const dirs: string[] = [];
  for (let d = path.dirname(file); ; d = path.dirname(d)) {
    dirs.unshift(d);
    if (d === path.dirname(d)) break;
  }
  const users = accountNames('/etc/passwd');
  const groups = accountNames('/etc/group');
  const owner = (uid: number, gid: number): string => `${users.get(uid) ?? uid}:${groups.get(gid) ?? gid}`;
  for (const d of dirs) {
    try {
      accessSync(d, constants.X_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
      const st = lstatSync(d);
      return fail(name, `${me} may not enter ${d} (owner ${owner(st.uid, st.gid)}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`,
        `give the guests' users search access to ${d} (chmod o+x, or a group they are in), or put the socket elsewhere: --listen unix:PATH`);
    }
  }
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return fail(name, 'no such socket', `${START_FIX}; or check another: vgpu-admin doctor --socket PATH (guests use VGPU_SERVER=unix:PATH)`);
  }
  if (!st.isSocket()) return fail(name, 'exists but is not a socket', `remove it, or give the mediator another address: --listen unix:PATH`);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  const who = `owner ${owner(st.uid, st.gid)}, mode ${mode}`;
  try {
    accessSync(file, constants.W_OK);
  } catch {
    const group = groups.get(st.gid) ?? String(st.gid);
    return fail(name, `${me} may not connect (${who})`,
      `run the program as ${users.get(st.uid) ?? st.uid}, or add its user to group ${group} ('usermod -aG ${group} USER') and make the socket group-writable (chmod g+w ${file}; the mediator creates its sockets 0660)`);
  }
  const refused = await connectable(file);
  if (refused !== null) {
    return fail(name, `${who}; connecting fails: ${refused}${refused === 'ECONNREFUSED' ? ' (nothing listens: a stale socket file)' : ''}`, START_FIX);
  }
  return ok(name, `${who}; ${me} can connect`);
}

async function getJson<S extends z.ZodType>(url: string, schema: S, token?: string): Promise<{ status: number; body: z.output<S> }> {
  const headers: Record<string, string> = { accept: 'application/json', [REQUEST_HEADER]: '1' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const parsed = schema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new Error(`${url} answered ${res.status} with something a vgpu mediator does not send`);
  return { status: res.status, body: parsed.data };
}

function fetchFailure(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message;
}

interface AdminFindings {
  checks: Check[];
  ready?: Ready;
}

async function adminChecks(o: HostDoctorOptions): Promise<AdminFindings> {
  const name = 'admin api';
  if (o.adminUrl === undefined) {
    return {
      checks: [
        fail(name, `no running mediator recorded in ${path.join(o.stateDir, 'admin.json')}`, `${START_FIX}; or give its API: --url http://HOST:PORT`),
        fail('listeners', 'unknown without a running mediator', START_FIX),
      ],
    };
  }
  const url = o.adminUrl.replace(/\/$/, '');
  let version: string;
  let ready: Ready;
  try {
    version = (await getJson(`${url}/healthz`, healthSchema)).body.version;
    ready = (await getJson(`${url}/readyz`, readySchema)).body;
  } catch (e) {
    return {
      checks: [
        fail(name, `cannot reach ${url}: ${fetchFailure(e)}`, `${START_FIX}; a mediator started with --http off has no API (vgpu-admin then works on the store)`),
        fail('listeners', 'unknown: the admin API does not answer', START_FIX),
      ],
    };
  }
  const checks: Check[] = [];
  // An authenticated route: is the token this client would send accepted?
  try {
    const r = await getJson(`${url}/v1/pools`, z.unknown(), o.adminToken);
    if (r.status === 401) {
      checks.push(fail(name, `${url} (vgpu ${version}) refuses this client's token`,
        `pass your operator token ('vgpu-admin operator add NAME' on the mediator's host makes one) or the admin token (${path.join(o.stateDir, 'admin-token')} there): --token TOKEN or VGPU_ADMIN_TOKEN`));
    } else if (r.status >= 400) {
      checks.push(fail(name, `${url} (vgpu ${version}) answers ${r.status} to an authenticated request`, "see the mediator's log (journalctl -u vgpu-mediator, or its stderr)"));
    } else {
      checks.push(ok(name, `${url}: vgpu ${version}`));
    }
  } catch (e) {
    checks.push(fail(name, `${url}: ${fetchFailure(e)}`, "see the mediator's log"));
  }
  const notOk = Object.entries(ready.checks).filter(([k, v]) => v !== 'ok' && k !== 'listeners');
  if (notOk.length > 0) {
    checks.push(fail('readiness', notOk.map(([k, v]) => `${k}: ${v}`).join('; '), "see the mediator's log; a draining mediator is stopping (start it again when it has)"));
  }
  const bound = ready.listeners ?? [];
  if (ready.checks['listeners'] === 'ok') checks.push(ok('listeners', bound.length ? bound.join(', ') : 'none configured'));
  else checks.push(fail('listeners', `${ready.checks['listeners'] ?? 'unknown'}${bound.length ? `; bound: ${bound.join(', ')}` : ''}`,
    "see the mediator's log for the listener's error; another process may hold the address (choose another with --listen)"));
  return { checks, ready };
}

function socketFiles(addresses: readonly string[]): string[] {
  return addresses.flatMap((l) => {
    try {
      const f = socketFile(parseListen(l));
      return f === undefined ? [] : [f];
    } catch {
      return [];
    }
  });
}

/** The Unix sockets guests of this host would use. */
function socketsToCheck(o: HostDoctorOptions, ready: Ready | undefined, located: Located | undefined): string[] {
  if (o.sockets.length > 0) return [...o.sockets];
  if (ready) return socketFiles(ready.listeners ?? []);
  const server = o.env['VGPU_SERVER'];
  if (server?.startsWith('unix:')) return [server.slice(5)];
  return socketFiles(located?.addresses ?? []);
}

/** Where the mediator is, as vgpu-run finds it; a configuration file that does not load fails. */
function locate(o: HostDoctorOptions): { located?: Located; checks: Check[] } {
  let located: Located;
  try {
    located = locateMediator({ stateDir: o.stateDir, env: o.env, config: o.config });
  } catch (e) {
    return { checks: [fail('config', (e as Error).message, "fix the mediator's configuration file (docs/operations.md, \"Configuration file\"); vgpu-mediator refuses to start with it too")] };
  }
  const cfg = located.config;
  if (cfg === undefined) return { located, checks: [] };
  if (path.resolve(cfg.stateDir) !== path.resolve(o.stateDir)) {
    return { located, checks: [warn('config', `${cfg.file} puts the mediator's state in ${cfg.stateDir}, but this check reads ${o.stateDir}`,
      `check that mediator: --state-dir ${cfg.stateDir} or VGPU_STATE_DIR=${cfg.stateDir} (as root or its user)`)] };
  }
  return { located, checks: [ok('config', `${cfg.file}: state in ${cfg.stateDir}, guests on ${located.addresses.join(', ')}`)] };
}

/** Runs every check; never throws for what it finds (only for a broken installation). */
export async function hostChecks(o: HostDoctorOptions): Promise<Check[]> {
  if (!['auto', 'cuda', 'softgpu'].includes(o.backend)) {
    throw new VgpuError('VGPU_ERR_USAGE', { detail: `--backend ${o.backend}: expected auto, cuda or softgpu` });
  }
  const checks: Check[] = [];
  const where = locate(o);
  checks.push(...where.checks);
  // No admin API recorded in the state directory: the one the configuration file names.
  const admin = await adminChecks({ ...o, adminUrl: o.adminUrl ?? where.located?.config?.adminUrl });
  const running = admin.ready?.backend ?? null;
  // The mediator's own backend when one runs; the choice it would make otherwise.
  const choice: BackendChoice = running === 'cuda' || running === 'softgpu' ? running : o.backend;
  // The driver is probed unless the operator said softgpu: when a mediator on auto fell back to
  // softgpu, this says why.
  const cuda = o.backend === 'softgpu' && running !== 'cuda' ? undefined : await tryProbe('cuda', o.env);
  checks.push(driverCheck(choice, cuda));
  let used: Probed | string;
  let how: string;
  if (typeof cuda === 'object' && cuda.devices.length > 0 && choice !== 'softgpu') {
    used = cuda;
    how = running ? 'the running mediator uses cuda (the NVIDIA driver)' : 'cuda (the NVIDIA driver)';
  } else {
    used = choice === 'cuda' ? 'the NVIDIA driver is not usable (see driver)' : await tryProbe('softgpu', o.env);
    how = running ? `the running mediator uses ${running}` : choice === 'softgpu' ? 'softgpu (--backend softgpu)' : 'softgpu (no usable NVIDIA driver)';
  }
  if (typeof used === 'string') {
    checks.push(fail('backend', `${choice}: ${used}`, choice === 'cuda'
      ? 'fix the driver, or start the mediator with --backend auto'
      : "build softgpu ('make'), or point VGPU_SOFTGPU_LIB at libvgpu-softgpu.so"));
  } else {
    checks.push(ok('backend', `${how}, ${used.devices.length} device(s)`));
  }
  checks.push(storeCheck(o.stateDir));
  for (const f of socketsToCheck(o, admin.ready, where.located)) checks.push(await socketCheck(f));
  checks.push(...admin.checks);
  if (typeof used !== 'string') checks.push(memoryCheck(used));
  return checks;
}
