// vgpu-admin gpu list: the GPUs this host has seen, their pool, and (with a running mediator)
// whether they are present, how many sessions run on each, and their telemetry: memory in use,
// utilization, and temperature and power where the host's NVML reads them (docs/operations.md,
// GPU telemetry; `-` where nothing measured them, as on softgpu).

import { VgpuError } from '../../../common/errors.js';
import { formatSize } from '../../../common/size.js';
import { vgpuUuid } from '../../../mediator/identity.js';
import { gpuUuid } from '../../../mediator/placement.js';
import type { CommandContext } from '../../context.js';
import { table } from '../../output.js';

export interface GpuListOptions {
  vm?: string;
  vgpu?: string;
}

/** The UUID vGPU `vgpu` of `vm` sees when placed on the host GPU `uuid` ("GPU-..."): the mediator's
 * own derivation (src/mediator/identity.ts), so the two cannot disagree. */
export function guestUuidOn(vm: string, vgpu: number, uuid: string): string {
  const hex = uuid.replace(/^GPU-/i, '').replace(/-/g, '').toLowerCase();
  return gpuUuid(vgpuUuid(vm, vgpu, hex).toString('hex'));
}

export async function run(ctx: CommandContext, o: GpuListOptions = {}): Promise<void> {
  if (o.vgpu !== undefined && o.vm === undefined) throw new VgpuError('VGPU_ERR_USAGE', { detail: '--vgpu goes with --vm NAME' });
  const slot = o.vgpu === undefined ? 0 : Number(o.vgpu);
  if (!Number.isInteger(slot) || slot < 0 || slot > 15 || !/^\d+$/.test(o.vgpu ?? '0')) {
    throw new VgpuError('VGPU_ERR_USAGE', { detail: `--vgpu ${o.vgpu}: expected a vGPU index from 0 to 15` });
  }
  const ops = await ctx.ops();
  if (o.vm !== undefined) {
    const vm = await ops.getVm(o.vm); // an unknown VM is an error, not a column of made-up UUIDs
    if (slot >= vm.vgpus) throw new VgpuError('VGPU_ERR_USAGE', { detail: `--vgpu ${slot}: VM ${vm.name} has ${vm.vgpus} vGPU${vm.vgpus === 1 ? '' : 's'} (0 to ${vm.vgpus - 1})` });
  }
  const gpus = (await ops.listGpus()).map((g) => (o.vm === undefined ? g : { ...g, guestUuid: guestUuidOn(o.vm, slot, g.uuid) }));
  if (ctx.json) {
    ctx.result(gpus);
    return;
  }
  if (gpus.length === 0) {
    ctx.line('no GPUs recorded yet: the mediator records its GPUs when it starts');
    return;
  }
  const live = ops.live;
  const rows = gpus.map((g) => {
    const t = g.telemetry;
    return [
      g.uuid, g.name, g.backend, formatSize(g.totalMemory), g.pool,
      live ? (g.present ? String(g.ordinal) : 'absent') : '-',
      live ? String(g.sessions) : '-',
      t ? formatSize(t.memory.used) : '-',
      t ? `${t.utilization.gpuPercent}%` : '-',
      t?.temperatureC !== undefined ? `${t.temperatureC} C` : '-',
      t?.powerW !== undefined ? `${Math.round(t.powerW)} W` : '-',
      ...(o.vm === undefined ? [] : [guestUuidOn(o.vm, slot, g.uuid)]),
    ];
  });
  const header = ['UUID', 'NAME', 'BACKEND', 'MEMORY', 'POOL', 'ORDINAL', 'SESSIONS', 'USED', 'UTIL', 'TEMP', 'POWER',
    ...(o.vm === undefined ? [] : [`UUID IN ${o.vm} (vGPU ${slot})`])];
  for (const l of table(header, rows)) ctx.line(l);
  if (!live) ctx.line('(no mediator running: presence and sessions unknown)');
}
