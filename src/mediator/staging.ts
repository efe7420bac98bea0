// How much guest data executors may receive ahead of serving it (docs/executors.md, "Staging"):
// while a session waits for its GPU slice, its executor goes on reading bulk data up to its share,
// so transfers of several guests proceed at once instead of one slice at a time. The host's bound
// is divided evenly among the sessions attached, each share capped by the per-session bound; the
// mediator tells every executor its share when sessions attach or end.

export interface StagingLimits {
  /** Bytes one session may hold received but unserved. */
  perSession: number;
  /** Bytes all sessions together may hold. */
  total: number;
}

export const DEFAULT_STAGING: StagingLimits = { perSession: 32 * 2 ** 20, total: 512 * 2 ** 20 };

/** Each session's share when `sessions` are attached. */
export function stagingShare(limits: StagingLimits, sessions: number): number {
  return Math.floor(Math.min(limits.perSession, limits.total / Math.max(1, sessions)));
}
