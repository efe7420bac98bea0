// cuGetProcAddress table: (base name, flags, version) -> exported entry point, exactly as NVIDIA's
// driver resolves it (spec/ref/cuGetProcAddress_table.tsv, measured on a real driver).

export interface ProcRow {
  base: string;
  flags: number;
  versions: Array<{ min: number; symbol: string }>;
}

export function parseProcTable(tsv: string, file: string): ProcRow[] {
  const rows: ProcRow[] = [];
  tsv.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const cols = line.split('\t');
    const where = `${file}:${i + 1}`;
    if (cols.length !== 3) throw new Error(`${where}: expected 3 tab-separated columns`);
    const [base, flagsText, list] = cols as [string, string, string];
    const flags = Number(flagsText);
    if (!/^cu[A-Za-z0-9_]+$/.test(base) || ![0, 1, 2].includes(flags)) throw new Error(`${where}: bad row`);
    const versions = list.split(',').map((v) => {
      const m = /^(\d+):(cu[A-Za-z0-9_]+)$/.exec(v.trim());
      if (!m) throw new Error(`${where}: bad version entry '${v}'`);
      return { min: Number(m[1]), symbol: m[2]! };
    });
    versions.sort((a, b) => b.min - a.min);
    rows.push({ base, flags, versions });
  });
  return rows;
}

export function procSymbols(rows: ProcRow[]): Set<string> {
  const s = new Set<string>();
  for (const r of rows) for (const v of r.versions) s.add(v.symbol);
  return s;
}

export function emitProcAddr(rows: ProcRow[], banner: string): string {
  const byBase = new Map<string, ProcRow[]>();
  for (const r of rows) {
    const list = byBase.get(r.base) ?? [];
    list.push(r);
    byBase.set(r.base, list);
  }
  const bases = [...byBase.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const symbols = [...procSymbols(rows)].sort();
  const decls = symbols.map((s) => `extern int ${s}(void);`).join('\n');
  const lists: string[] = [];
  const entries: string[] = [];
  // Rows for flags 0 and 1 are identical in the real table; flags 2 (per-thread default stream)
  // differs for stream-ordered functions. Keep one list per (base, column).
  bases.forEach((base, bi) => {
    const cols: string[] = [];
    for (const col of [0, 2]) {
      const row = byBase.get(base)!.find((r) => r.flags === col) ?? byBase.get(base)!.find((r) => r.flags === 0);
      if (!row) {
        cols.push('{NULL, 0}');
        continue;
      }
      const name = `v${bi}_${col}`;
      lists.push(`static const vg_pa_ver ${name}[] = {${row.versions.map((v) => `{${v.min}, (void *)${v.symbol}}`).join(', ')}};`);
      cols.push(`{${name}, ${row.versions.length}}`);
    }
    entries.push(`  {"${base}", {${cols.join(', ')}}},`);
  });
  return `${banner}
/* The cuGetProcAddress resolution table. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

${decls}

typedef struct vg_pa_ver { int min_version; void *fn; } vg_pa_ver;
typedef struct vg_pa_col { const vg_pa_ver *v; int n; } vg_pa_col;
typedef struct vg_pa_entry { const char *name; vg_pa_col col[2]; } vg_pa_entry;

${lists.join('\n')}

static const vg_pa_entry table[] = {
${entries.join('\n')}
};

static int cmp_entry(const void *key, const void *e)
{
  return strcmp((const char *)key, ((const vg_pa_entry *)e)->name);
}

/* Resolves (symbol, cudaVersion, flags) like the real driver. Returns the
 * CUdriverProcAddressQueryResult: 0 found (*pfn set), 1 symbol not found, 2 version not
 * sufficient; -1 when flags has bits other than LEGACY_STREAM (1) and PER_THREAD_DEFAULT_STREAM (2). */
int vg_procaddr_lookup(const char *symbol, int cudaVersion, uint64_t flags, void **pfn)
{
  *pfn = NULL;
  if (flags & ~(uint64_t)3) return -1;
  if (symbol == NULL) return 1;
  const vg_pa_entry *e = bsearch(symbol, table, sizeof table / sizeof table[0], sizeof table[0], cmp_entry);
  if (e == NULL) return 1;
  const vg_pa_col *c = &e->col[(flags & 2) ? 1 : 0];
  for (int i = 0; i < c->n; i++) {
    if (cudaVersion >= c->v[i].min_version) {
      *pfn = c->v[i].fn;
      return 0;
    }
  }
  return 2;
}
`;
}
