/*
 * What the test programs that run kernels of kernels.fatbin share: the image loader, stdin's end as
 * the test's "stop" signal, and CK, which returns 1 from the calling function (from main: exit
 * status 1) after one line naming the driver call that failed and its result.
 */
#ifndef VG_TEST_KERNEL_PROG_H
#define VG_TEST_KERNEL_PROG_H

#include <cuda.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#define CK(x)                                                                   \
  do {                                                                          \
    CUresult r_ = (x);                                                          \
    if (r_ != CUDA_SUCCESS) {                                                   \
      fprintf(stderr, "%s failed: %d\n", #x, (int)r_);                          \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

/* The fatbin at `path` (at most 1 MiB), or NULL. */
static inline const char *load_image(const char *path) {
  static char img[1 << 20];
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = fread(img, 1, sizeof img, f);
  fclose(f);
  return n ? img : NULL;
}

/* Whether stdin reached end-of-file (the test closed it), waiting at most `ms` for input. */
static inline int stdin_closed(int ms) {
  struct pollfd p = {.fd = 0, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0) return 0;
  char c;
  return read(0, &c, 1) <= 0;
}

#endif
