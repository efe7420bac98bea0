/*
 * Minimal test registry for the guest runtime tests, shaped like softgpu/tests/task.h (TEST(name)
 * auto-registers; every test runs in its own forked process; VGPU_TEST_FILTER=substr selects).
 * Asserts print both operands and end the test process with status 1.
 */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void (*vgt_fn)(void);
void vgt_register(const char *name, vgt_fn fn, const char *file);

#define TEST(name)                                                                    \
  static void vgt_##name(void);                                                       \
  __attribute__((constructor)) static void vgt_reg_##name(void) {                    \
    vgt_register(#name, vgt_##name, __FILE__);                                        \
  }                                                                                   \
  static void vgt_##name(void)

#define VGT_FAIL(...)                                                                 \
  do {                                                                                \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                 \
    fprintf(stderr, __VA_ARGS__);                                                     \
    fprintf(stderr, "\n");                                                            \
    exit(1);                                                                          \
  } while (0)

#define ASSERT_EQ(a, b)                                                               \
  do {                                                                                \
    long long va_ = (long long)(a), vb_ = (long long)(b);                             \
    if (va_ != vb_) VGT_FAIL("ASSERT_EQ(%s, %s): %lld != %lld", #a, #b, va_, vb_);    \
  } while (0)
#define ASSERT_NE(a, b)                                                               \
  do {                                                                                \
    long long va_ = (long long)(a), vb_ = (long long)(b);                             \
    if (va_ == vb_) VGT_FAIL("ASSERT_NE(%s, %s): both %lld", #a, #b, va_);            \
  } while (0)
#define ASSERT_U64_EQ(a, b)                                                           \
  do {                                                                                \
    unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);  \
    if (va_ != vb_) VGT_FAIL("ASSERT_U64_EQ(%s, %s): %llu != %llu", #a, #b, va_, vb_); \
  } while (0)
#define ASSERT_PTR_EQ(a, b)                                                           \
  do {                                                                                \
    const void *va_ = (const void *)(a), *vb_ = (const void *)(b);                    \
    if (va_ != vb_) VGT_FAIL("ASSERT_PTR_EQ(%s, %s): %p != %p", #a, #b, va_, vb_);    \
  } while (0)
#define ASSERT_STR_EQ(a, b)                                                           \
  do {                                                                                \
    const char *va_ = (a), *vb_ = (b);                                                \
    if (!va_ || !vb_ || strcmp(va_, vb_))                                             \
      VGT_FAIL("ASSERT_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b, va_ ? va_ : "(null)", \
               vb_ ? vb_ : "(null)");                                                 \
  } while (0)
#define ASSERT_TRUE(x)                                                                \
  do {                                                                                \
    if (!(x)) VGT_FAIL("ASSERT_TRUE(%s)", #x);                                        \
  } while (0)

/* Reads a log file a test pointed VGPU_LOG_FILE at into buf (NUL-terminated) and removes it;
 * 0 when it cannot be read. */
static inline int vgt_take_file(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t k = fread(buf, 1, size - 1, f);
  buf[k] = 0;
  fclose(f);
  unlink(path);
  return 1;
}

#endif
