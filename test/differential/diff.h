/*
 * Output of the differential programs (docs/testing.md). Each program runs unchanged on softgpu
 * in-process, through vgpu on softgpu and through vgpu on NVIDIA's driver, and the outputs must be
 * identical, so a program prints only what every backend must agree on:
 *
 *   <function> <case>: <CUresult>          the result of one call
 *   <function> <case>: <value>             a value that must not depend on the device
 *   # ...                                  a note the comparison drops (device names, sizes)
 *
 * The first word of a result line is the entry point that really ran: functions are resolved by
 * their exact exported name (dlsym), never through cuda.h's renaming macros, so the coverage check
 * can tell cuCtxCreate from cuCtxCreate_v2. Nothing here knows about vgpu.
 */
#ifndef VG_DIFF_H
#define VG_DIFF_H

/* Deprecated entry points are exported, so they are compared like the others. */
#define CUDA_ENABLE_DEPRECATED 1
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* The library is opened the way cudart opens it: by its soname, from the loader path. */
static inline void *diff_sym(const char *name) {
  static void *lib;
  if (!lib && !(lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL))) {
    printf("# cannot load libcuda.so.1: %s\n", dlerror());
    fflush(stdout);
    exit(3);
  }
  void *p = dlsym(lib, name);
  if (!p) {
    printf("# %s is not exported by this libcuda.so.1\n", name);
    fflush(stdout);
    exit(3);
  }
  return p;
}

static inline CUresult diff_result(const char *fn, const char *label, CUresult r) {
  printf("%s %s: %d\n", fn, label, (int)r);
  return r;
}

/* CALL(cuCtxCreate, __typeof__(&cuCtxCreate_v2), "null pctx", NULL, 0, dev): calls the export
 * named exactly `sym` (the argument is stringified, so cuda.h's macros never rename it) through a
 * pointer of the given type, prints its result and evaluates to it. */
#define CALL(sym, type, label, ...) diff_result(#sym, label, ((type)diff_sym(#sym))(__VA_ARGS__))

/*
 * A fire-and-forget call (VG_ASYNC in spec/cuda.spec.h) may report a bad argument when it is made
 * or at the next synchronising call (docs/protocol.md, "Deferred errors"): the comparison takes
 * the first error the program sees through the two, and the split goes to a note.
 */
static inline void diff_async(const char *fn, const char *label, CUresult at_call, CUresult at_sync) {
  printf("%s %s: %d\n", fn, label, (int)(at_call ? at_call : at_sync));
  printf("# %s %s: %d at the call, %d at the next synchronisation\n", fn, label, (int)at_call, (int)at_sync);
}

/* A value that every backend must agree on, reported under the function that produced it. */
#define SAY(sym, label, fmt, ...) printf(#sym " " label ": " fmt "\n", __VA_ARGS__)

/* A call whose result only sets up a case: a failure ends the program (status 4) with its line. */
#define MUST(call)                                                                               \
  do {                                                                                           \
    CUresult must_ = (call);                                                                     \
    if (must_ != CUDA_SUCCESS) {                                                                 \
      printf("setup failed: %s = %d (%s:%d)\n", #call, (int)must_, __FILE__, __LINE__);          \
      exit(4);                                                                                   \
    }                                                                                            \
  } while (0)

/* The whole of a file (the kernels fatbin a program takes as its argument); exits 2 if unreadable. */
static inline void *diff_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc((size_t)n);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) exit(2);
  fclose(f);
  return p;
}

#endif
