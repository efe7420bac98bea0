// spec/curesult.tsv -> common/gen/curesult.{h,c}: the name and message of every CUresult, compiled
// into both the guest libcuda.so.1 and softgpu so that they answer cuGetErrorName/cuGetErrorString
// alike, with NVIDIA's driver's own strings.

import { SpecError } from './spec.js';
import { checkUnique, cString, parseTsv } from './tsv.js';

export const CURESULT_FILE = 'spec/curesult.tsv';
const SOURCES = new Set(['driver', 'cudart', 'cuda.h']);

export interface CuresultRow {
  code: number;
  name: string;
  message: string;
}

export function parseCuresult(text: string): CuresultRow[] {
  const rows = parseTsv(text, CURESULT_FILE, ['code', 'name', 'source', 'message']);
  checkUnique(rows, 0, 'code', CURESULT_FILE);
  checkUnique(rows, 1, 'name', CURESULT_FILE);
  return rows.map(({ line, cols: [code, name, source, message] }) => {
    const where = `${CURESULT_FILE}:${line}`;
    if (!/^\d+$/.test(code!)) throw new SpecError(`${where}: code '${code}' is not a non-negative integer`);
    if (!/^CUDA_(SUCCESS|ERROR_[A-Z0-9_]+)$/.test(name!)) throw new SpecError(`${where}: '${name}' is not a CUresult name`);
    if (!SOURCES.has(source!)) throw new SpecError(`${where}: source '${source}' is not one of ${[...SOURCES].join(', ')}`);
    if (message === '') throw new SpecError(`${where}: ${name} has no message`);
    return { code: Number(code), name: name!, message: message! };
  });
}

export function emitCuresultHeader(rows: CuresultRow[], banner: string): string {
  return `${banner}
/*
 * cuGetErrorName/cuGetErrorString for every CUresult of ${CURESULT_FILE}. One implementation for the
 * guest libcuda.so.1 and softgpu, so a program sees the same strings on either.
 */
#ifndef VG_CURESULT_H
#define VG_CURESULT_H

#include <cuda.h>

/* How many codes have a name and a message. */
#define VG_CURESULT_COUNT ${rows.length}

/* *pStr = the code's name (message). A code outside the table gives CUDA_ERROR_INVALID_VALUE and
 * *pStr = NULL, as NVIDIA's driver does; so does pStr == NULL, on which the driver crashes. */
CUresult vg_curesult_name(CUresult error, const char **pStr);
CUresult vg_curesult_string(CUresult error, const char **pStr);

#endif
`;
}

export function emitCuresultSource(rows: CuresultRow[], banner: string): string {
  const sorted = [...rows].sort((a, b) => a.code - b.code);
  const table = sorted.map((r) => `    {${cString(r.name)}, ${cString(r.message)}},`).join('\n');
  const cases = sorted.map((r, i) => `  case ${r.name}: return &rows[${i}];`).join('\n');
  return `${banner}
#include "curesult.h"

#include <stddef.h>

typedef struct vg_curesult_row {
  const char *name;
  const char *message;
} vg_curesult_row;

/* Cases use cuda.h's names, so a name the toolkit lacks does not compile; 'make spec-check' adds
 * -Wswitch-enum, so a CUresult the table lacks is reported too. */
static const vg_curesult_row *row_of(CUresult e) {
  static const vg_curesult_row rows[] = {
${table}
  };
  switch (e) {
${cases}
  default: return NULL;
  }
}

static CUresult answer(CUresult error, const char **pStr, int message) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const vg_curesult_row *r = row_of(error);
  *pStr = !r ? NULL : message ? r->message : r->name;
  return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult vg_curesult_name(CUresult error, const char **pStr) { return answer(error, pStr, 0); }
CUresult vg_curesult_string(CUresult error, const char **pStr) { return answer(error, pStr, 1); }
`;
}
