/*
 * cuGetExportTable (the "dark API", docs in shared/reference/cudart-driver-interface.md §2).
 * No table is served yet: every id is refused the way the real driver refuses an unknown one,
 * and the id is logged so that the callers needing one can be found.
 */
#include "vgcuda.h"

static CUresult export_table_impl(const void **pp, const CUuuid *id) {
  if (!pp || !id) return CUDA_ERROR_INVALID_VALUE;
  *pp = NULL;
  if (vg_log_enabled(VG_LOG_INFO)) {
    const unsigned char *b = (const unsigned char *)id->bytes;
    vg_log(VG_LOG_INFO,
           "cuGetExportTable: refusing table %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  }
  return CUDA_ERROR_INVALID_VALUE;
}

VG_EXPORT CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
  VG_TRACED(export_table_impl(ppExportTable, pExportTableId));
}
