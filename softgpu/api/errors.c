/*
 * cuGetErrorName / cuGetErrorString: the real driver's strings for every CUresult of cuda.h, from
 * the table that the guest library compiles too (common/gen/curesult.c, from spec/curesult.tsv).
 */
#include "sg_api.h"

#include "curesult.h"

SG_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr) { return vg_curesult_name(error, pStr); }
SG_EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr) { return vg_curesult_string(error, pStr); }
