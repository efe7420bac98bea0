// vgpu-admin vm show NAME: one VM's configuration and usage totals.

import { formatSize } from '../../../common/size.js';
import type { CommandContext } from '../../context.js';
import { keyValues, maxHoldText, memoryText } from '../../output.js';

export async function run(ctx: CommandContext, name: string): Promise<void> {
  const { usage: period, imageStoreBytes, ...vm } = await (await ctx.ops()).getVm(name);
  const { vm: _vm, since: _since, ...usage } = period;
  if (ctx.json) {
    ctx.result({ ...vm, usage, imageStoreBytes });
    return;
  }
  const memory = vm.memoryQuota === null ? 'none' : `${memoryText(vm.memoryQuota)} (${vm.memoryQuota} bytes)`;
  const lines = keyValues([
    ['name', vm.name],
    ['pool', vm.pool],
    ['priority', vm.priority],
    ['weight', String(vm.weight)],
    ['memory quota', memory],
    ['vGPUs', String(vm.vgpus)],
    ['PCI bus id', vm.pciBusId ?? 'host GPU\'s'],
    ['notes', vm.notes],
    ['max hold', maxHoldText(vm.maxHoldMs)],
    ['vsock CID', vm.vsockCid === null ? 'none' : String(vm.vsockCid)],
    ['vsock path', vm.vsockPath ?? 'none'],
    ['TLS client cert', vm.tlsClientCertSha256 === null ? 'none' : `sha256:${vm.tlsClientCertSha256}`],
    ['shared memory', vm.shmPath ?? 'none'],
    ['created', vm.createdAt],
    ['updated', vm.updatedAt],
    ['device time', `${(usage.deviceTimeNs / 1e9).toFixed(3)} s`],
    ['calls', String(usage.calls)],
    ['bytes to GPU', formatSize(usage.bytesHtoD)],
    ['bytes from GPU', formatSize(usage.bytesDtoH)],
    ['peak memory', formatSize(usage.peakMemory)],
    ['module images', formatSize(imageStoreBytes)],
  ]);
  for (const l of lines) ctx.line(l);
}
