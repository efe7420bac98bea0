// The tab-separated fact tables of spec/: '#' comment lines, then a header row naming the columns,
// then one row per fact. Errors name the file and line.

import { SpecError } from './spec.js';

export interface TsvRow {
  /** 1-based line number, for messages. */
  line: number;
  cols: string[];
}

/** Rows of a table whose header row must be exactly `columns`. */
export function parseTsv(text: string, file: string, columns: readonly string[]): TsvRow[] {
  const rows: TsvRow[] = [];
  let header = false;
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const cols = raw.split('\t');
    if (!header) {
      if (cols.join('\t') !== columns.join('\t')) throw new SpecError(`${file}:${i + 1}: expected the header row '${columns.join('<TAB>')}'`);
      header = true;
      return;
    }
    if (cols.length !== columns.length) throw new SpecError(`${file}:${i + 1}: expected ${columns.length} tab-separated columns`);
    rows.push({ line: i + 1, cols });
  });
  if (!header) throw new SpecError(`${file}: no header row`);
  return rows;
}

/** Throws when two rows share a value in column `col` (a code or a name must mean one thing). */
export function checkUnique(rows: TsvRow[], col: number, what: string, file: string): void {
  const seen = new Map<string, number>();
  for (const r of rows) {
    const v = r.cols[col]!;
    const first = seen.get(v);
    if (first !== undefined) throw new SpecError(`${file}:${r.line}: ${what} ${v} is already used on line ${first}`);
    seen.set(v, r.line);
  }
}

/** A C string literal. */
export function cString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
