// spec/wire-status.tsv -> the wire protocol's status codes (the code of an ERROR frame, the status
// of ATTACHED) for the guest's C, the host's TypeScript and docs/protocol.md's table.

import { SpecError } from './spec.js';
import { checkUnique, cString, parseTsv } from './tsv.js';

export const WIRE_STATUS_FILE = 'spec/wire-status.tsv';
/** The C spelling of a code: VG_WIRE_STATUS_<name>. */
const C_PREFIX = 'VG_WIRE_STATUS_';

export interface WireStatusRow {
  code: number;
  name: string;
  meaning: string;
}

export function parseWireStatus(text: string): WireStatusRow[] {
  const rows = parseTsv(text, WIRE_STATUS_FILE, ['code', 'name', 'meaning']);
  checkUnique(rows, 0, 'code', WIRE_STATUS_FILE);
  checkUnique(rows, 1, 'name', WIRE_STATUS_FILE);
  return rows.map(({ line, cols: [code, name, meaning] }) => {
    const where = `${WIRE_STATUS_FILE}:${line}`;
    if (!/^\d+$/.test(code!) || Number(code) > 0xffffffff) throw new SpecError(`${where}: code '${code}' is not a u32`);
    if (!/^[A-Z][A-Z0-9_]*$/.test(name!) || name === 'UNKNOWN') throw new SpecError(`${where}: name '${name}' must be UPPER_CASE and not UNKNOWN`);
    if (meaning === '') throw new SpecError(`${where}: ${name} has no meaning`);
    return { code: Number(code), name: name!, meaning: meaning! };
  });
}

export function emitWireStatusC(rows: WireStatusRow[], banner: string): string {
  const consts = rows.map((r) => `  ${C_PREFIX}${r.name} = ${r.code}, /* ${r.meaning} */`).join('\n');
  const cases = rows.map((r) => `  case ${r.code}: return ${cString(C_PREFIX + r.name)};`).join('\n');
  return `${banner}
/* Status codes of the wire protocol: the u32 code of an ERROR frame and the u32 status of ATTACHED
 * (docs/protocol.md, "Error model"). */
#ifndef VG_WIRE_STATUS_H
#define VG_WIRE_STATUS_H

enum vg_wire_status {
${consts}
};

/* The code's name, for log lines; a code this guest does not know (a newer host) is UNKNOWN. */
static inline const char *vg_wire_status_name(unsigned code) {
  switch (code) {
${cases}
  }
  return ${cString(`${C_PREFIX}UNKNOWN`)};
}

#endif
`;
}

export function emitWireStatusTs(rows: WireStatusRow[], banner: string): string {
  return `${banner}
// Status codes of the wire protocol: the u32 code of an ERROR frame and the u32 status of ATTACHED
// (docs/protocol.md, "Error model"). The guest spells them ${C_PREFIX}<name>.

export const WireStatus = {
${rows.map((r) => `  /** ${r.meaning} */\n  ${r.name}: ${r.code},`).join('\n')}
} as const;
export type WireStatusCode = (typeof WireStatus)[keyof typeof WireStatus];
`;
}

const BEGIN = `<!-- generated from ${WIRE_STATUS_FILE} by 'make gen': begin -->`;
const END = `<!-- generated from ${WIRE_STATUS_FILE}: end -->`;

/** docs/protocol.md with the code table between its markers rewritten. */
export function spliceWireStatusDoc(doc: string, rows: WireStatusRow[], file: string): string {
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b < 0 || e < b) throw new SpecError(`${file}: the markers '${BEGIN}' and '${END}' are missing`);
  const table = [
    '| code | name | meaning |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.code} | \`${C_PREFIX}${r.name}\` | ${r.meaning} |`),
  ].join('\n');
  return `${doc.slice(0, b)}${BEGIN}\n${table}\n${doc.slice(e)}`;
}
