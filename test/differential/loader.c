/*
 * Differential cases (docs/testing.md): how libraries find the driver's entry points,
 * cuGetProcAddress and the export tables of cuGetExportTable. softgpu does not implement these
 * (the executor calls it by name, and only cudart needs them), so this program runs through vgpu
 * and on NVIDIA's driver only.
 */
#include <string.h>

#include "diff.h"

typedef CUresult (*proc_v2_t)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
typedef CUresult (*proc_v1_t)(const char *, void **, int, cuuint64_t);
typedef __typeof__(&cuGetExportTable) export_table_t;

/* A lookup, and whether it found the export of the given name. */
static void lookup(const char *label, const char *symbol, int version, cuuint64_t flags, const char *expect) {
  void *fn = (void *)(uintptr_t)1;
  CUdriverProcAddressQueryResult st = (CUdriverProcAddressQueryResult)99;
  CUresult r = ((proc_v2_t)diff_sym("cuGetProcAddress_v2"))(symbol, &fn, version, flags, &st);
  printf("cuGetProcAddress_v2 %s: %d = status %d, %s\n", label, (int)r, (int)st,
         fn == NULL ? "no function" : expect && fn == diff_sym(expect) ? expect : "another function");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int version = 0;
  MUST(((__typeof__(&cuDriverGetVersion))diff_sym("cuDriverGetVersion"))(&version));
  /* Lookups work before cuInit: cudart makes them first. */
  lookup("cuInit before cuInit", "cuInit", 13000, 0, "cuInit");
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  lookup("cuMemcpyHtoD", "cuMemcpyHtoD", 13000, 0, "cuMemcpyHtoD_v2");
  lookup("cuMemcpyHtoD per-thread", "cuMemcpyHtoD", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
         "cuMemcpyHtoD_v2_ptds");
  lookup("cuMemcpyHtoD legacy stream", "cuMemcpyHtoD", 13000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, "cuMemcpyHtoD_v2");
  lookup("cuLaunchKernel per-thread", "cuLaunchKernel", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
         "cuLaunchKernel_ptsz");
  lookup("cuCtxCreate at 11.0", "cuCtxCreate", 11000, 0, "cuCtxCreate_v2");
  lookup("cuCtxCreate at 13.0", "cuCtxCreate", 13000, 0, "cuCtxCreate_v4");
  lookup("cuMemAlloc at 3.0", "cuMemAlloc", 3000, 0, "cuMemAlloc");
  lookup("cuMemAlloc at 3.2", "cuMemAlloc", 3020, 0, "cuMemAlloc_v2");
  lookup("cuLibraryLoadData at 11.0 (added in 12.0)", "cuLibraryLoadData", 11000, 0, "cuLibraryLoadData");
  lookup("unknown name", "cuNoSuchFunction", 13000, 0, NULL);
  lookup("empty name", "", 13000, 0, NULL);
  lookup("a newer CUDA than the driver", "cuInit", version + 1000, 0, NULL);
  lookup("unknown flag", "cuInit", 13000, 0x100, NULL);
  void *fn = NULL;
  CALL(cuGetProcAddress_v2, proc_v2_t, "null symbol", NULL, &fn, 13000, 0, NULL);
  CALL(cuGetProcAddress_v2, proc_v2_t, "null out", "cuInit", NULL, 13000, 0, NULL);
  CALL(cuGetProcAddress_v2, proc_v2_t, "null status", "cuInit", &fn, 13000, 0, NULL);
  fn = NULL;
  CALL(cuGetProcAddress, proc_v1_t, "cuMemFree", "cuMemFree", &fn, 13000, 0);
  SAY(cuGetProcAddress, "cuMemFree is cuMemFree_v2", "%d", fn == diff_sym("cuMemFree_v2"));
  CALL(cuGetProcAddress, proc_v1_t, "unknown name", "cuNoSuchFunction", &fn, 13000, 0);
  CALL(cuGetProcAddress, proc_v1_t, "null symbol", NULL, &fn, 13000, 0);

  /* CUDART_INTERFACE (every cudart asks for it) and a made-up table. */
  static const CUuuid cudart = {{(char)0x6b, (char)0xd5, (char)0xfb, (char)0x6c, 0x5b, (char)0xf4, (char)0xe7, 0x4a,
                                 (char)0x89, (char)0x87, (char)0xd9, 0x39, 0x12, (char)0xfd, (char)0x9d, (char)0xf9}};
  static const CUuuid unknown = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
  const void *table = NULL;
  CALL(cuGetExportTable, export_table_t, "CUDART_INTERFACE", &table, &cudart);
  SAY(cuGetExportTable, "CUDART_INTERFACE is a table", "%d", table != NULL);
  table = (const void *)(uintptr_t)1;
  CALL(cuGetExportTable, export_table_t, "unknown table", &table, &unknown);
  SAY(cuGetExportTable, "unknown table is NULL", "%d", table == NULL);
  CALL(cuGetExportTable, export_table_t, "null out", NULL, &cudart);
  CALL(cuGetExportTable, export_table_t, "null id", &table, NULL);
  return 0;
}
