/*
 * cuGetErrorName / cuGetErrorString: the real driver's strings for every CUresult of cuda.h, from
 * the table that softgpu compiles too (common/gen/curesult.c, generated from spec/curesult.tsv).
 */
#include "vgcuda.h"

#include "curesult.h"

VG_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr) { VG_TRACED(vg_curesult_name(error, pStr)); }
VG_EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr) { VG_TRACED(vg_curesult_string(error, pStr)); }
