// Who a guest connection is (docs/security.md, docs/virtual-machines.md): a VM token, a vsock
// channel bound to a VM, or the default VM of the host's Unix sockets.
//
// A bound vsock channel is stronger than a token: the hypervisor's vsock device puts the guest's
// connection on the channel (its CID, or the hybrid socket of its VM), so the guest cannot choose
// it, while a token can be copied. A guest on a bound channel is therefore that VM without a
// token, and a token for any other VM is refused there instead of letting a guest of one VM claim
// another. Channels bound to no VM (and TCP) need a token, as before.

import { channelLabel, type Channel } from './listen.js';
import type { Vm } from '../store/index.js';

export type Admission =
  /** `by` says what admitted the guest: a token's sessions end when the token is replaced. */
  | { vm: Vm; by: 'token' | 'channel' | 'default' }
  | { refused: string; why: 'no_token' | 'unknown_token' | 'channel_mismatch' };

export interface AdmissionStore {
  findVmByToken(token: string): Vm | null;
  findVmByVsockCid(cid: number): Vm | null;
  findVmByVsockPath(path: string): Vm | null;
  getVm(name: string): Vm;
}

function boundVm(store: AdmissionStore, c: Channel): Vm | null {
  if (c.kind === 'vsock-uds') return store.findVmByVsockPath(c.path);
  if (c.kind === 'vsock') return store.findVmByVsockCid(c.cid);
  return null;
}

export function authenticateGuest(store: AdmissionStore, token: string, channel: Channel, defaultVm: string | undefined): Admission {
  const bound = boundVm(store, channel);
  if (bound) {
    if (token === '' || store.findVmByToken(token)?.name === bound.name) return { vm: bound, by: 'channel' };
    return {
      refused: `${channelLabel(channel)} is bound to VM ${bound.name}; a token for another VM is refused on it (unset VGPU_TOKEN and the guest is VM ${bound.name})`,
      why: 'channel_mismatch',
    };
  }
  if (token === '') {
    if (channel.kind === 'unix' && defaultVm) {
      try {
        return { vm: store.getVm(defaultVm), by: 'default' };
      } catch {
        /* the operator removed the default VM */
      }
    }
    const vsock = channel.kind === 'vsock' || channel.kind === 'vsock-uds';
    return {
      refused: vsock
        ? `no VM token given, and ${channelLabel(channel)} is bound to no VM (set VGPU_TOKEN, or bind the channel: vgpu-admin vm set NAME ${channel.kind === 'vsock' ? '--vsock-cid' : '--vsock-path'} ...)`
        : 'no VM token given (set VGPU_TOKEN)',
      why: 'no_token',
    };
  }
  const vm = store.findVmByToken(token);
  return vm ? { vm, by: 'token' } : { refused: 'unknown VM token', why: 'unknown_token' };
}
