/*
 * Checks for the driver-API test programs in test/programs: one "ok - name" or "not ok - name"
 * line per check (the e2e tests collect the "not ok" lines); failures are counted for the exit
 * status. Nothing here knows about vgpu.
 */
#ifndef VG_TEST_TAP_H
#define VG_TEST_TAP_H

#include <cuda.h>
#include <stdio.h>

static int failures;

#define CHECK(name, cond)                                                                      \
  do {                                                                                         \
    if (cond) printf("ok - %s\n", name);                                                       \
    else { printf("not ok - %s (%s:%d)\n", name, __FILE__, __LINE__); failures++; }           \
  } while (0)

/* A driver call that must return `want`; the failure line names both results. */
#define EXPECT(name, call, want)                                                               \
  do {                                                                                         \
    CUresult r_ = (call);                                                                      \
    if (r_ == (want)) printf("ok - %s\n", name);                                               \
    else {                                                                                     \
      const char *s_ = NULL;                                                                   \
      cuGetErrorName(r_, &s_);                                                                 \
      printf("not ok - %s: got %d (%s), want %d (%s:%d)\n", name, (int)r_, s_ ? s_ : "?",      \
             (int)(want), __FILE__, __LINE__);                                                 \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

#endif
