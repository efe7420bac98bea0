// vgpu-admin support-bundle: one .tar.gz with what a bug report needs (src/doctor/bundle.ts):
// doctor's report, versions, the mediator's process configuration and recent logs, and a summary
// of the store, with every token taken out.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { VgpuError } from '../../../common/errors.js';
import { VERSION } from '../../../common/version.js';
import { DB_FILE } from '../../../store/index.js';
import { configFileToRead } from '../../../mediator/locate.js';
import { collectLogs, mediatorProcess, redact, redactJson, writeArchive, type BundlePart } from '../../../doctor/bundle.js';
import type { CommandContext } from '../../context.js';
import { doctorReport, type DoctorOptions } from '../doctor/run.js';

export interface BundleOptions extends DoctorOptions {
  output?: string;
  log?: string[];
  unit?: string;
}

const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';

/** The mediator's configuration file (--config, else the default when it exists), as a part with
 * its secrets redacted, or the note that says why it is missing. */
function configFilePart(config: string | false | undefined, known: readonly string[]): { part?: BundlePart; note?: string } {
  const file = configFileToRead(config);
  if (file === undefined) return {};
  try {
    return { part: { name: `config/${path.basename(file)}`, text: redact(readFileSync(file, 'utf8'), known) } };
  } catch (e) {
    return { note: `configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

function osRelease(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** VMs, pools and GPUs as the admin API shows them (no tokens: it never shows them). */
async function storeSummary(ctx: CommandContext, adminUrl: string | undefined): Promise<unknown> {
  // Without a mediator the store is read directly, but never created by a diagnostic.
  const file = path.join(ctx.stateDir, DB_FILE);
  if (adminUrl === undefined && !existsSync(file)) return { error: `no store at ${file} and no running mediator` };
  try {
    const ops = await ctx.ops();
    return { source: ops.where, vms: await ops.listVms(), pools: await ops.listPools(), gpus: await ops.listGpus() };
  } catch (e) {
    return { error: e instanceof VgpuError ? e.message : String(e) };
  }
}

export async function run(ctx: CommandContext, o: BundleOptions): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const top = `vgpu-support-${os.hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${stamp}`;
  const output = path.resolve(o.output ?? `${top}.tar.gz`);
  const { url, token } = await ctx.adminEndpoint();
  const doctor = await doctorReport(ctx, o);
  const driver = doctor.checks.find((c) => c.name === 'driver');
  const { readAdminInfo } = await import('../../../admin/files.js');
  const info = readAdminInfo(ctx.stateDir);
  const { logs, notes } = await collectLogs(o.log ?? [], o.unit ?? 'vgpu-mediator.service');
  // The admin token is known here; VM tokens only by their form.
  const known = token === undefined ? [] : [token];
  const configFile = configFilePart(ctx.config, known);
  if (configFile.note !== undefined) notes.push(configFile.note);
  const parts: BundlePart[] = [
    { name: 'doctor.json', text: json(doctor) },
    {
      name: 'versions.json',
      text: json({ vgpu: VERSION, node: process.versions.node, kernel: `${os.type()} ${os.release()} ${os.arch()}`, os: osRelease(), driver: driver?.detail ?? 'unknown' }),
    },
    { name: 'config.json', text: json(redactJson({ stateDir: ctx.stateDir, adminUrl: url ?? null, mediator: mediatorProcess(info?.pid) }, known)) },
    ...(configFile.part ? [configFile.part] : []),
    { name: 'store.json', text: json(redactJson(await storeSummary(ctx, url), known)) },
    ...logs.map((l) => ({ name: `logs/${l.name}`, text: redact(l.text, known) })),
    {
      name: 'README.txt',
      text: `vgpu support bundle, written ${new Date().toISOString()} by vgpu-admin ${VERSION} (docs/operations.md, "Support bundle").\n`
        + 'Tokens are replaced by [redacted].\n'
        + (logs.length === 0 ? 'No mediator log was collected.\n' : '')
        + notes.map((n) => `note: ${n}\n`).join(''),
    },
  ];
  const staging = mkdtempSync(path.join(os.tmpdir(), 'vgpu-bundle-'));
  try {
    await writeArchive(staging, top, parts, output);
  } catch (e) {
    throw new VgpuError('VGPU_ERR_USAGE', { detail: `support bundle: ${(e as Error).message}` });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (ctx.json) ctx.result({ file: output, files: parts.map((p) => `${top}/${p.name}`), notes, doctorOk: doctor.ok });
  else {
    ctx.line(`wrote ${output}`);
    for (const n of notes) ctx.line(`note: ${n}`);
    if (!doctor.ok) ctx.line("doctor found problems (see doctor.json in the bundle, or run 'vgpu-admin doctor')");
  }
}
