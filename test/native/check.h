/* The C tests' one check: prints ok/FAIL per check and counts the failures (the test's exit status). */
#ifndef VG_TEST_CHECK_H
#define VG_TEST_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(name, cond)                                                        \
  do {                                                                           \
    if (cond) printf("ok   %s\n", name);                                         \
    else {                                                                       \
      printf("FAIL %s (%s:%d)\n", name, __FILE__, __LINE__);                     \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#endif
