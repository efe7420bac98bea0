// Failures of the wire protocol itself. The status codes that ERROR and ATTACHED frames carry are
// generated from spec/wire-status.tsv (src/protocol/gen/wire-status.ts).

import { WireStatus } from './gen/wire-status.js';

export { WireStatus, type WireStatusCode } from './gen/wire-status.js';

/**
 * The former name of WireStatus, kept only because src/mediator/connection.ts, which another change
 * is rewriting, still imports it; drop it once that file imports WireStatus.
 */
export const VgpuErr = WireStatus;

/** A peer broke the protocol: the connection is dropped with a log line naming the reason. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}
