/*
 * The C test registry. A test file includes this header and writes
 *
 *     TEST(mem_alloc_zeroed) { ...; ASSERT_EQ(cuMemAlloc_v2(&p, 16), CUDA_SUCCESS); ... }
 *
 * TEST registers the function from a constructor, so adding a test is adding a function; the
 * runner (runner.c) forks one process per test, so a crash, a sticky CUDA error or leaked global
 * state in one test cannot affect another. A failed assert prints both operands with file:line
 * and ends the test process with status 1. VGPU_TEST_FILTER=substr selects tests by name.
 *
 * The asserts take their operands once and compare them by value and kind (signed, unsigned,
 * floating, pointer) so that mixing e.g. size_t and an int literal neither warns nor lies.
 */
#ifndef VG_TEST_TASK_H
#define VG_TEST_TASK_H

#include <stddef.h>

typedef void (*vg_test_fn)(void);
void vg_test_register(const char *name, const char *file, int line, vg_test_fn fn);

#define TEST(name)                                                          \
  static void vg_test_##name(void);                                         \
  __attribute__((constructor)) static void vg_test_register_##name(void) {  \
    vg_test_register(#name, __FILE__, __LINE__, vg_test_##name);            \
  }                                                                         \
  static void vg_test_##name(void)

/* A value as the asserts see it: which kind it is, and the value in the matching field. */
typedef enum { VG_VAL_SIGNED, VG_VAL_UNSIGNED, VG_VAL_FLOAT, VG_VAL_POINTER } vg_val_kind;
typedef struct vg_val {
  vg_val_kind kind;
  long long i;
  unsigned long long u;
  long double f;
  const void *p;
} vg_val;

static inline vg_val vg_val_signed(long long v) { vg_val r = {VG_VAL_SIGNED, v, 0, 0, 0}; return r; }
static inline vg_val vg_val_unsigned(unsigned long long v) { vg_val r = {VG_VAL_UNSIGNED, 0, v, 0, 0}; return r; }
static inline vg_val vg_val_float(long double v) { vg_val r = {VG_VAL_FLOAT, 0, 0, v, 0}; return r; }
static inline vg_val vg_val_pointer(const volatile void *v) {
  vg_val r = {VG_VAL_POINTER, 0, 0, 0, (const void *)v};
  return r;
}

/* Enumerations (CUresult...) are compatible with their underlying integer type and land there. */
#define VG__VAL(x)                                                                          \
  _Generic((x),                                                                             \
      _Bool: vg_val_unsigned, unsigned char: vg_val_unsigned, unsigned short: vg_val_unsigned, \
      unsigned int: vg_val_unsigned, unsigned long: vg_val_unsigned,                         \
      unsigned long long: vg_val_unsigned, char: vg_val_signed, signed char: vg_val_signed,  \
      short: vg_val_signed, int: vg_val_signed, long: vg_val_signed, long long: vg_val_signed, \
      float: vg_val_float, double: vg_val_float, long double: vg_val_float,                  \
      default: vg_val_pointer)(x)

typedef enum { VG_OP_EQ, VG_OP_NE, VG_OP_LT, VG_OP_LE, VG_OP_GT, VG_OP_GE } vg_op;

/* Each returns only when the assertion holds; otherwise it reports and ends the test process. */
void vg_test_cmp(const char *file, int line, const char *ea, const char *eb, vg_op op, vg_val a, vg_val b);
void vg_test_true(const char *file, int line, const char *expr, int value, int expected);
void vg_test_str_eq(const char *file, int line, const char *ea, const char *eb, const char *a, const char *b);
void vg_test_mem_eq(const char *file, int line, const char *ea, const char *eb, const void *a, const void *b,
                    size_t n);
void vg_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

#define VG__CMP(op, a, b) vg_test_cmp(__FILE__, __LINE__, #a, #b, op, VG__VAL(a), VG__VAL(b))
#define ASSERT_EQ(a, b) VG__CMP(VG_OP_EQ, a, b)
#define ASSERT_NE(a, b) VG__CMP(VG_OP_NE, a, b)
#define ASSERT_LT(a, b) VG__CMP(VG_OP_LT, a, b)
#define ASSERT_LE(a, b) VG__CMP(VG_OP_LE, a, b)
#define ASSERT_GT(a, b) VG__CMP(VG_OP_GT, a, b)
#define ASSERT_GE(a, b) VG__CMP(VG_OP_GE, a, b)
#define ASSERT_TRUE(x) vg_test_true(__FILE__, __LINE__, #x, !!(x), 1)
#define ASSERT_FALSE(x) vg_test_true(__FILE__, __LINE__, #x, !!(x), 0)
#define ASSERT_NULL(x) ASSERT_EQ((const void *)(x), NULL)
#define ASSERT_NOT_NULL(x) ASSERT_NE((const void *)(x), NULL)
#define ASSERT_STR_EQ(a, b) vg_test_str_eq(__FILE__, __LINE__, #a, #b, (a), (b))
#define ASSERT_MEM_EQ(a, b, n) vg_test_mem_eq(__FILE__, __LINE__, #a, #b, (a), (b), (n))
#define FAIL(...) vg_test_fail(__FILE__, __LINE__, __VA_ARGS__)

#endif
