// Rows of the `operators` table: who administers the host through the admin API, each with a
// token of their own (docs/admin-api.md, Operators). No method here validates: the Store checks
// input first and calls these inside its transactions.

import type { Database, Statement } from 'better-sqlite3';

/** An operator as the rest of the host sees it. The token hash never leaves the store. */
export interface Operator {
  id: number;
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** The operator the admin-token file stands for: the name no stored operator may take. */
export const ADMIN_OPERATOR = 'admin';

interface OperatorRow {
  id: number;
  name: string;
  token_hash: string;
  created_at: string;
  updated_at: string;
}

const toOperator = (r: OperatorRow): Operator => ({ id: r.id, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at });

export class OperatorTable {
  private readonly byName: Statement;
  private readonly byId: Statement;
  private readonly all: Statement;
  private readonly hashes: Statement;
  private readonly insertRow: Statement;
  private readonly setHash: Statement;
  private readonly deleteRow: Statement;

  constructor(db: Database) {
    this.byName = db.prepare('SELECT * FROM operators WHERE name = ?');
    this.byId = db.prepare('SELECT * FROM operators WHERE id = ?');
    this.all = db.prepare('SELECT * FROM operators ORDER BY name');
    this.hashes = db.prepare('SELECT id, token_hash FROM operators');
    this.insertRow = db.prepare('INSERT INTO operators (name, token_hash, created_at, updated_at) VALUES (?, ?, ?, ?)');
    this.setHash = db.prepare('UPDATE operators SET token_hash = ?, updated_at = ? WHERE id = ?');
    this.deleteRow = db.prepare('DELETE FROM operators WHERE id = ?');
  }

  find(name: string): Operator | null {
    const r = this.byName.get(name) as OperatorRow | undefined;
    return r ? toOperator(r) : null;
  }

  findById(id: number): Operator | null {
    const r = this.byId.get(id) as OperatorRow | undefined;
    return r ? toOperator(r) : null;
  }

  list(): Operator[] {
    return (this.all.all() as OperatorRow[]).map(toOperator);
  }

  tokenHashes(): Array<{ id: number; token_hash: string }> {
    return this.hashes.all() as Array<{ id: number; token_hash: string }>;
  }

  insert(name: string, tokenHash: string, now: string): void {
    this.insertRow.run(name, tokenHash, now, now);
  }

  setTokenHash(id: number, tokenHash: string, now: string): void {
    this.setHash.run(tokenHash, now, id);
  }

  delete(id: number): void {
    this.deleteRow.run(id);
  }
}
