// Failures of the wire protocol itself. The status codes that ERROR and ATTACHED frames carry are
// generated from spec/wire-status.tsv (src/protocol/gen/wire-status.ts).

export { WireStatus, type WireStatusCode } from './gen/wire-status.js';

/** A peer broke the protocol: the connection is dropped with a log line naming the reason. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}
