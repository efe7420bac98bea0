// The audit log: one row per change to the configuration, written in the same transaction as the
// change so the log cannot miss or invent one. Details never hold a token.

import type { Database, Statement } from 'better-sqlite3';
import { z } from 'zod';
import { validate } from './validate.js';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export const auditInputSchema = z.strictObject({
  action: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be a dotted lower-case word like vm.create'),
  target: z.string().min(1).max(128),
  details: z.record(z.string(), z.unknown()).optional(),
  actor: z.string().min(1).max(128).optional(),
});
export type AuditInput = z.input<typeof auditInputSchema>;

export interface AuditQuery {
  /** Only entries about this target. */
  target?: string;
  /** The newest `limit` entries (default 1000), returned oldest first. */
  limit?: number;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: string;
}

function parseDetails(s: string): Record<string, unknown> {
  const v: unknown = JSON.parse(s);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
}

export class AuditLog {
  private readonly insert: Statement;
  private readonly recent: Statement;
  private readonly recentFor: Statement;
  private readonly newest: Statement;

  constructor(db: Database) {
    this.insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)');
    this.recent = db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?');
    this.recentFor = db.prepare('SELECT * FROM audit_log WHERE target = ? ORDER BY id DESC LIMIT ?');
    this.newest = db.prepare('SELECT COALESCE(MAX(id), 0) FROM audit_log').pluck();
  }

  append(input: AuditInput, defaultActor: string, at: string): void {
    const e = validate(auditInputSchema, input, 'audit entry');
    this.insert.run(at, e.actor ?? defaultActor, e.action, e.target, JSON.stringify(e.details ?? {}));
  }

  head(): number {
    return this.newest.get() as number;
  }

  list(q: AuditQuery = {}): AuditEntry[] {
    const limit = Number.isSafeInteger(q.limit) && (q.limit ?? 0) > 0 ? (q.limit as number) : 1000;
    const rows = (q.target === undefined ? this.recent.all(limit) : this.recentFor.all(q.target, limit)) as AuditRow[];
    return rows.reverse().map((r) => ({ ...r, details: parseDetails(r.details) }));
  }
}
