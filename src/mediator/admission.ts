// Who a guest connection is (docs/security.md, docs/virtual-machines.md): a VM token, a channel
// bound to a VM (a vsock channel, or a TLS client certificate), or the default VM of the host's
// Unix sockets.
//
// A bound channel is stronger than a token: the hypervisor's vsock device puts the guest's
// connection on the channel (its CID, or the hybrid socket of its VM), so the guest cannot choose
// it; a client certificate proves the guest holds its private key, which never crosses the wire.
// A token can be copied. A guest on a bound channel is therefore that VM without a token, and a
// token for any other VM is refused there instead of letting a guest of one VM claim another.
// Channels bound to no VM (and TCP) need a token, as before.

import { channelLabel, type Channel } from './listen.js';
import type { Vm } from '../store/index.js';

export type Admission =
  /** `by` says what admitted the guest: a token's sessions end when the token is replaced. */
  | { vm: Vm; by: 'token' | 'channel' | 'default' }
  | { refused: string; why: 'no_token' | 'unknown_token' | 'channel_mismatch' | 'client_cert' };

export interface AdmissionStore {
  findVmByToken(token: string): Vm | null;
  findVmByVsockCid(cid: number): Vm | null;
  findVmByVsockPath(path: string): Vm | null;
  findVmByTlsClientCert(sha256: string): Vm | null;
  getVm(name: string): Vm;
}

/** The channel's binding, in words, with the `vm set` option that makes it. */
function bindingOf(c: Channel): { label: string; option: string } | null {
  if (c.kind === 'vsock-uds') return { label: channelLabel(c), option: '--vsock-path' };
  if (c.kind === 'vsock') return { label: channelLabel(c), option: '--vsock-cid' };
  if (c.kind === 'tls' && c.clientCert !== undefined) return { label: `the client certificate sha256:${c.clientCert}`, option: '--tls-client-cert-sha256' };
  return null;
}

function boundVm(store: AdmissionStore, c: Channel): Vm | null {
  if (c.kind === 'vsock-uds') return store.findVmByVsockPath(c.path);
  if (c.kind === 'vsock') return store.findVmByVsockCid(c.cid);
  if (c.kind === 'tls' && c.clientCert !== undefined) return store.findVmByTlsClientCert(c.clientCert);
  return null;
}

export function authenticateGuest(store: AdmissionStore, token: string, channel: Channel, defaultVm: string | undefined): Admission {
  // A certificate that did not verify is refused even with a good token: the guest meant to be
  // someone its certificate does not prove, and saying so beats quietly falling back.
  if (channel.kind === 'tls' && channel.certRefused !== undefined) return { refused: channel.certRefused, why: 'client_cert' };
  const bound = boundVm(store, channel);
  const binding = bindingOf(channel);
  if (bound) {
    if (token === '' || store.findVmByToken(token)?.name === bound.name) return { vm: bound, by: 'channel' };
    return {
      refused: `${binding?.label ?? channelLabel(channel)} is bound to VM ${bound.name}; a token for another VM is refused on it (unset VGPU_TOKEN and the guest is VM ${bound.name})`,
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
    return {
      refused: binding
        ? `no VM token given, and ${binding.label} is bound to no VM (set VGPU_TOKEN, or bind it: vgpu-admin vm set NAME ${binding.option} ...)`
        : 'no VM token given (set VGPU_TOKEN)',
      why: 'no_token',
    };
  }
  const vm = store.findVmByToken(token);
  return vm ? { vm, by: 'token' } : { refused: 'unknown VM token', why: 'unknown_token' };
}
