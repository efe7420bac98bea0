// Graph operations written by hand: the update's result info carries node pointers that mean
// nothing to the guest, so only its result code goes back, with the driver's answer, in a reply
// that succeeds even when the update does not (a failed call's reply carries no outputs, and a
// refused update's result code is the reason).

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';

export function cuGraphExecUpdate_v2(x: ExecContext, r: Reader, w: Writer): number {
  const exec = x.handle(r.u64(), 'graphexec', false);
  const graph = x.handle(r.u64(), 'graph', false);
  r.end();
  const info = Buffer.alloc(24); // {CUgraphExecUpdateResult result; CUgraphNode errorNode, errorFromNode}
  const res = x.d.cuGraphExecUpdate_v2(exec, graph, info);
  w.u32(res);
  w.u32(info.readUInt32LE(0));
  return 0;
}
